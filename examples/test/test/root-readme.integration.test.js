import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { websocketConnect } from '@gale/client';
import { afterAll, expect, it } from 'vitest';
import { exampleDir, startIn } from './start.js';

// The root README's recipe for using the packages before they are on the public registry (pack
// them, install the tarballs into your project), run exactly as printed, from the repository's
// root, with HOME a throwaway folder that holds an empty ESM project `my-app`; then the server
// example runs in that project from what the tarballs installed.

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const home = await mkdtemp(join(tmpdir(), 'gale-readme-home-'));
afterAll(() => rm(home, { recursive: true, force: true }));

/** The README's ```sh block that packs the packages. */
async function recipe() {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
  const found = blocks.filter((block) => block.includes('pnpm pack'));
  expect(found, 'one ```sh block of README.md packs the packages').toHaveLength(1);
  return found[0];
}

it('installs the packed packages into ~/my-app, where the server example then runs', async () => {
  const app = join(home, 'my-app');
  await mkdir(app);
  await writeFile(
    join(app, 'package.json'),
    `${JSON.stringify({ name: 'my-app', private: true, type: 'module' }, null, 2)}\n`,
  );
  // A user's shell: no npm_* or pnpm variables of the run that started this test; npm's cache
  // stays the machine's (HOME moved, the downloads need not).
  const env = {
    HOME: home,
    npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm'),
  };
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|PNPM_|VITEST|TURBO_|NODE_ENV$|INIT_CWD$|HOME$)/.test(key)) continue;
    env[key] = value;
  }
  await run('bash', ['-euo', 'pipefail', '-c', await recipe()], {
    cwd: repoRoot,
    env,
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const installed = JSON.parse(await readFile(join(app, 'package.json'), 'utf8'));
  expect(Object.keys(installed.dependencies).sort()).toEqual([
    '@gale/frame',
    '@gale/io',
    '@gale/server',
  ]);

  await copyFile(join(exampleDir('server-echo'), 'server.js'), join(app, 'server.js'));
  const server = await startIn(app, 'server.js', {}, 'the server example in ~/my-app');
  try {
    const connection = await websocketConnect(`${server.ws}websocket`);
    await connection.writeMessage('from the tarballs');
    expect(await connection.readMessage()).toBe('You said: from the tarballs');
    await connection.close();
  } finally {
    await server.stop();
  }
}, 300_000);
