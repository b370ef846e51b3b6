import { execFile, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { websocketConnect } from '@gale/client';
import { freePort, launchChromium, startRedis } from '@gale/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleDir, sayUntilHeard, startExample } from './start.js';

const run = promisify(execFile);

describe('server-echo', () => {
  it('answers "You said: …" on /websocket', async () => {
    const server = await startExample('server-echo', 'server.js');
    try {
      const connection = await websocketConnect(`${server.ws}websocket`);
      await connection.writeMessage('hi');
      expect(await connection.readMessage()).toBe('You said: hi');
      await connection.close();
    } finally {
      await server.stop();
    }
  });
});

describe('node-client', () => {
  it('says hello to server-echo and prints the answer', async () => {
    const server = await startExample('server-echo', 'server.js');
    try {
      const { stdout } = await run(process.execPath, ['client.js'], {
        cwd: exampleDir('node-client'),
        env: { ...process.env, URL: `${server.ws}websocket` },
        timeout: 20_000,
      });
      expect(stdout).toBe('You said: hello\n');
    } finally {
      await server.stop();
    }
  });
});

describe('frame-raw-socket', () => {
  it('echoes text and binary messages', async () => {
    const server = await startExample('frame-raw-socket', 'server.js');
    try {
      const response = await fetch(server.url);
      expect(await response.text()).toBe('a WebSocket server');
      const connection = await websocketConnect(server.ws);
      await connection.writeMessage('hello');
      expect(await connection.readMessage()).toBe('hello');
      await connection.writeMessage(new Uint8Array([1, 2, 3]));
      expect([...(await connection.readMessage())]).toEqual([1, 2, 3]);
      await connection.close();
    } finally {
      await server.stop();
    }
  });
});

describe('redis-two-instances', () => {
  let redis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('a client on one instance hears a client on the other', async () => {
    const env = { REDIS_URL: redis.url };
    const [a, b] = await Promise.all([
      startExample('redis-two-instances', 'room.js', env),
      startExample('redis-two-instances', 'room.js', env),
    ]);
    try {
      expect(a.url).not.toBe(b.url);
      const [heardByAlice, heardByBob] = [[], []];
      const alice = await websocketConnect(`${a.ws}room`, {
        onMessage: (message) => heardByAlice.push(JSON.parse(message)),
      });
      const bob = await websocketConnect(`${b.ws}room`, {
        onMessage: (message) => heardByBob.push(JSON.parse(message)),
      });
      // A room subscribes in open(), after the handshake: say it until the other has joined.
      await sayUntilHeard(alice, 'hello from a', heardByBob);
      expect(heardByBob[0]).toEqual({ said: 'hello from a' });
      await sayUntilHeard(bob, 'hello from b', heardByAlice);
      expect(heardByAlice[0]).toEqual({ said: 'hello from b' });
      expect(heardByAlice.every(({ said }) => said === 'hello from b')).toBe(true);
      await Promise.all([alice.close(), bob.close()]);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

describe('browser-client', () => {
  const dir = exampleDir('browser-client');
  const vite = `${dir}node_modules/vite/bin/vite.js`;

  it('builds with the browser build of @gale/client', async () => {
    await run(process.execPath, [vite, 'build', '--logLevel', 'error'], { cwd: dir });
    const html = await readFile(`${dir}dist/index.html`, 'utf8');
    expect(html).toContain('<output>');
    const assets = await readdir(`${dir}dist/assets`);
    const bundle = assets.find((asset) => asset.endsWith('.js'));
    const code = await readFile(`${dir}dist/assets/${bundle}`, 'utf8');
    // The browser build (it wraps the native WebSocket), not the Node one (node:net, node:tls).
    expect(code.includes('browsers cannot send WebSocket pings')).toBe(true);
    expect(code.includes('node:')).toBe(false);
  });

  it('`vite` serves the page, and the page says hello to /chat', async () => {
    const server = await startVite(vite, dir);
    try {
      const page = await (await fetch(server.url)).text();
      expect(page).toContain('<script type="module" src="/main.js">');
      const main = await (await fetch(`${server.url}main.js`)).text();
      expect(main).toContain('createConnection');
      const connection = await websocketConnect(`${server.ws}chat`, { origin: server.url });
      await connection.writeMessage('hello');
      expect(await connection.readMessage()).toBe('You said: hello');
      await connection.close();

      // And in Chromium: the page connects, says hello and shows the answer.
      const browser = await launchChromium();
      try {
        const tab = await browser.newPage();
        await tab.goto(server.url);
        await tab.locator('output', { hasText: 'You said: hello' }).waitFor({ timeout: 20_000 });
        expect(await tab.evaluate(() => document.body.dataset.state)).toBe('open');
      } finally {
        await browser.close();
      }
    } finally {
      await server.stop();
    }
  });
});

/** `vite --port <free>` in `dir`, once it serves. */
async function startVite(vite, dir) {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [vite, '--port', String(port), '--strictPort', '--host', '127.0.0.1'],
    { cwd: dir, stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 20_000;
  const serves = () =>
    fetch(url).then(
      (response) => response.ok,
      () => false,
    );
  while (!(await serves())) {
    if (Date.now() > deadline) throw new Error('vite did not serve the page in 20 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    ws: url.replace('http:', 'ws:'),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
