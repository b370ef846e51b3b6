import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { readmeExample } from '@gale/test-utils';
import { describe, expect, it } from 'vitest';
import { exampleDir } from './start.js';

// A package README's first ```js block is an example's file, character for character. The file
// is the source: edit it (biome formats it, examples.integration.test.js runs it), then paste it
// over the README block; this test fails, with the difference, until they are the same.
const examples = [
  // [package, block, example, file]
  ['frame', 0, 'frame-raw-socket', 'server.js'],
  ['server', 0, 'server-echo', 'server.js'],
  ['client', 0, 'node-client', 'client.js'],
  ['client', 1, 'browser-client', 'main.js'],
  ['redis', 0, 'redis-two-instances', 'room.js'],
];

const packageDir = (name) => fileURLToPath(new URL(`../../../packages/${name}/`, import.meta.url));

describe('the README examples are the examples/ files', () => {
  for (const [name, block, example, file] of examples) {
    it(`packages/${name}/README.md, \`\`\`js block ${block}, is examples/${example}/${file}`, async () => {
      const code = await readFile(`${exampleDir(example)}${file}`, 'utf8');
      expect(await readmeExample(packageDir(name), block)).toBe(code);
      const readme = await readFile(`${packageDir(name)}README.md`, 'utf8');
      expect(readme).toContain(`[\`examples/${example}\`](../../examples/${example})`);
    });
  }
});
