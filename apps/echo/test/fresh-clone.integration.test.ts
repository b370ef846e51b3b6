import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, until } from '@gale/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

// `cd apps/echo && pnpm dev` in a fresh clone: no package is built yet. vite.config.ts imports
// `@gale/server/vite`, which in the workspace builds the packages the app imports first
// (packages/server/vite-workspace.mjs), then Vite serves. A copy of the repository's files (tracked
// and new, never dist/ or node_modules/) stands in for the clone.
const root = fileURLToPath(new URL('../../../', import.meta.url));
let clone: string;
let dev: ChildProcess | undefined;
let output = '';
let url: string;

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escape codes
const ANSI = /\u001b\[[0-9;]*m/g;

beforeAll(async () => {
  clone = mkdtempSync(join(tmpdir(), 'gale-fresh-'));
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((file) => file !== '' && existsSync(join(root, file)));
  for (const file of files) {
    mkdirSync(dirname(join(clone, file)), { recursive: true });
    cpSync(join(root, file), join(clone, file));
  }
  execFileSync('pnpm', ['install', '--frozen-lockfile', '--prefer-offline'], {
    cwd: clone,
    stdio: 'ignore',
  });
  expect(existsSync(join(clone, 'packages/server/dist'))).toBe(false);

  const port = await freePort();
  dev = spawn('pnpm', ['dev'], {
    cwd: join(clone, 'apps/echo'),
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', NO_COLOR: '1', FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const collect = (chunk: Buffer): void => {
    output += chunk.toString().replace(ANSI, '');
  };
  dev.stdout!.on('data', collect);
  dev.stderr!.on('data', collect);
  url = `http://127.0.0.1:${port}/`;
  // Stop waiting as soon as it exits: a failed start prints why, then ends.
  let exited = false;
  dev.once('exit', () => {
    exited = true;
  });
  await until(() => exited || output.includes(url), 'its URL', 240_000);
  if (!output.includes(url)) throw new Error(`pnpm dev did not start:\n${output}`);
}, 300_000);

afterAll(async () => {
  if (dev?.pid !== undefined && dev.exitCode === null) {
    const exited = new Promise((resolve) => dev!.once('exit', resolve));
    // pnpm, then node running vite: stop the whole group.
    process.kill(-dev.pid, 'SIGTERM');
    await exited;
  }
  if (clone !== undefined) rmSync(clone, { recursive: true, force: true });
});

describe('pnpm dev in a fresh clone', () => {
  it('builds the packages the app needs, then serves the page and the WebSocket routes', async () => {
    expect(existsSync(join(clone, 'packages/server/dist/vite.js'))).toBe(true);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Echo · Gale</title>');

    const socket = new WebSocket(`${url.replace('http', 'ws')}websocket`);
    const reply = new Promise<string>((resolve, reject) => {
      socket.once('message', (data) => resolve(data.toString()));
      socket.once('error', reject);
    });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.send('hi');
    expect(await reply).toBe('You said: hi');
    socket.close();
  });
});
