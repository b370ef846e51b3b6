import { fileURLToPath } from 'node:url';
import { runReadmeExample } from '@gale/test-utils';
import { expect, it } from 'vitest';

it('runs the README example as printed: an echo server and a client', async () => {
  const { stdout } = await runReadmeExample(fileURLToPath(new URL('..', import.meta.url)));
  expect(stdout).toBe('echo: hello\nclosed with 1000\n');
});
