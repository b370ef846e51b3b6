import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readmeShellBlock } from './readme-example.js';

const dir = mkdtempSync(join(tmpdir(), 'gale-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readmeShellBlock', () => {
  const readme = join(dir, 'README.md');
  writeFileSync(
    readme,
    [
      '# A package',
      '```sh',
      'npm install a-package',
      '```',
      '```js',
      "console.log('redis-server');",
      '```',
      '```sh',
      'redis-server --port 6379 &',
      'node a.js &',
      '```',
      '```sh',
      'redis-cli ping',
      '```',
      '',
    ].join('\n'),
  );

  it('is the one ```sh block that matches, as printed', async () => {
    expect(await readmeShellBlock(readme, (block) => block.includes('redis-server'))).toBe(
      'redis-server --port 6379 &\nnode a.js &\n',
    );
  });

  it('throws when no block matches, or several do', async () => {
    await expect(readmeShellBlock(readme, (block) => block.includes('cluster'))).rejects.toThrow(
      '0 of its 3 ```sh blocks match',
    );
    await expect(readmeShellBlock(readme, (block) => block.includes('redis'))).rejects.toThrow(
      '2 of its 3 ```sh blocks match',
    );
  });
});
