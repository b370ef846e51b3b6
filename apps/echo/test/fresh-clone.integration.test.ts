import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, holdPorts, portsInUse, requirePorts, until } from '@gale/test-utils';
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

// The root README's first quickstart command, as printed, in the same fresh clone: turbo starts
// the three demos' `pnpm dev` on their fixed ports. Those ports are a developer's (the demos may be
// running while the tests do): when one is taken, the test says so and is skipped; on CI, a fresh
// machine, it must run. The tests of other README recipes use some of them too (the apps'
// scale-out, the @gale/redis example's): holdPorts makes each wait for the others.
const DEMOS = [
  { port: 8888, title: '<title>Echo · Gale</title>' },
  { port: 8889, title: "<title>Burt's Books" },
  { port: 8890, title: '<title>Chat · Gale</title>' },
];
const PORTS = DEMOS.map(({ port }) => port);

describe("the root README's quickstart demo command in a fresh clone", () => {
  let demos: ChildProcess | undefined;
  let log = '';
  // Held from beforeAll to afterAll: the wait while another test runs its recipe on one of them
  // does not count against this test's time.
  let release = async (): Promise<void> => {};
  beforeAll(async () => {
    release = await holdPorts(PORTS);
  }, 600_000);

  afterAll(async () => {
    if (demos?.pid !== undefined && demos.exitCode === null) {
      const exited = new Promise((resolve) => demos!.once('exit', resolve));
      process.kill(-demos.pid, 'SIGTERM');
      await exited;
    }
    if (demos !== undefined) {
      // The demos' servers may outlive the shell by a moment: let the next holder find the ports
      // free.
      const deadline = Date.now() + 30_000;
      while ((await portsInUse(PORTS)).length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    await release();
  });

  it('serves the three demos, each on its URL', async ({ skip }) => {
    await requirePorts(PORTS, { skip }, 'the quickstart demo test');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const command = /^# Run the three demos.*\n(.+)$/m.exec(readme)?.[1];
    expect(command).toMatch(/ dev$/);
    demos = spawn('bash', ['-euo', 'pipefail', '-c', command!], {
      cwd: clone,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const collect = (chunk: Buffer): void => {
      log += chunk.toString().replace(ANSI, '');
    };
    demos.stdout!.on('data', collect);
    demos.stderr!.on('data', collect);
    let exited = false;
    demos.once('exit', () => {
      exited = true;
    });
    const urls = DEMOS.map(({ port }) => `http://127.0.0.1:${port}/`);
    await until(() => exited || urls.every((u) => log.includes(u)), 'the three URLs', 420_000);
    if (exited) throw new Error(`the quickstart's dev command ended:\n${log}`);
    for (const [index, { title }] of DEMOS.entries()) {
      const page = await fetch(urls[index]!);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain(title);
    }
  }, 480_000);
});
