// What the starter tests and the release rehearsal share: running npm as a user would (a clean
// environment), starting a starter with `npm start`, and what proves each running starter works
// (its page's custom element and one WebSocket exchange, with @gale/client's Node build).
// Plain JavaScript so that scripts/release-rehearsal.mjs runs on Node without a build step;
// starters.d.mts types it for the tests.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { stripVTControlCharacters } from 'node:util';
import { websocketConnect } from '@gale/client';

/** ws:// for an http:// base URL. */
export function wsBase(base) {
  return new URL(base.href.replace(/^http/, 'ws'));
}

/**
 * Exactly the templates create-gale ships, each with the tag of its page's custom element and a
 * WebSocket exchange that proves the server answers.
 */
export const STARTERS = {
  echo: {
    tag: 'echo-app',
    async exchange(base) {
      const connection = await websocketConnect(new URL('/websocket', wsBase(base)));
      await connection.writeMessage('hi');
      assert.equal(await connection.readMessage(), 'You said: hi');
      await connection.close();
    },
  },
  'cart-counter': {
    tag: 'burts-books',
    async exchange(base) {
      // The first message is the stock (and this caller's cart, empty).
      const connection = await websocketConnect(new URL('/cart/status', wsBase(base)));
      const status = JSON.parse(String(await connection.readMessage()));
      assert.equal(typeof status.inventoryCount, 'number', JSON.stringify(status));
      await connection.close();
    },
  },
  chat: {
    tag: 'chat-app',
    async exchange(base) {
      // WS /chat needs the signed cookie that POST /login sets, and POST /login needs the
      // _xsrf cookie's token (GET /login sets the cookie), as the page sends it.
      const loaded = await fetch(new URL('/login', base));
      const xsrf = loaded.headers
        .getSetCookie()
        .map((header) => header.split(';')[0])
        .find((pair) => pair.startsWith('_xsrf='));
      assert.ok(xsrf, 'GET /login sets the _xsrf cookie');
      const login = await fetch(new URL('/login', base), {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Cookie: xsrf,
          'X-XSRFToken': xsrf.slice('_xsrf='.length),
        },
        body: JSON.stringify({ nickname: `starter-${process.pid}` }),
      });
      assert.equal(login.status, 200);
      const cookie = login.headers
        .getSetCookie()
        .map((header) => header.split(';')[0])
        .join('; ');
      assert.notEqual(cookie, '');
      const connection = await websocketConnect(new URL('/chat', wsBase(base)), {
        headers: { Cookie: cookie },
      });
      const first = JSON.parse(String(await connection.readMessage()));
      assert.equal(first.type, 'history');
      await connection.close();
    },
  },
};

/** GET / answers 200 with HTML holding `<tag`. */
export async function checkPage(base, tag) {
  const response = await fetch(base);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
  const html = await response.text();
  assert.ok(html.includes(`<${tag}`), `the page has <${tag}>`);
}

/**
 * The environment for npm in a starter: this one without what pnpm and Vitest add (npm_package_*,
 * npm_lifecycle_*, most npm_config_*, NODE_ENV=test, VITEST*), which would change how npm installs
 * and how Vite builds. Registry, cache and proxy settings stay (unless `extra` replaces them).
 */
export function cleanEnv(extra = {}) {
  const keep =
    /^npm_config_(registry|cache|userconfig|globalconfig|(https?_|no)?proxy|noproxy|strict_ssl|cafile|ca)$/i;
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) && !keep.test(key)) continue;
    if (/^(VITEST|NODE_ENV$|TEST$|INIT_CWD$|PNPM_|TURBO_)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** Runs a command to completion; rejects with its exit code and the tail of its output. */
export function command(file, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) return resolve(output);
      reject(
        new Error(
          `${file} ${args.join(' ')} (in ${options.cwd}) exited with ${code ?? signal}:\n` +
            output.slice(-4000),
        ),
      );
    });
  });
}

/**
 * `npm <script>` (default `start`) with PORT=0 in its own process group (npm, sh and node),
 * resolved once a line of its output matched `ready` (default: the app's one line
 * `<template>: http://HOST:PORT/ …`); the URL is the first http://… in that line. `stop()` ends
 * the whole group.
 */
export async function startServer(cwd, template, options = {}) {
  const script = options.script ?? 'start';
  const child = spawn('npm', script === 'start' ? ['start'] : ['run', script], {
    cwd,
    // Production refuses to start without a cookie secret (the demos that sign cookies).
    env:
      options.env ??
      cleanEnv({ PORT: '0', HOST: '127.0.0.1', COOKIE_SECRET: 'starter-test-secret' }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', () => resolve()));
  const group = -child.pid;
  const groupAlive = () => {
    try {
      process.kill(group, 0);
      return true;
    } catch {
      return false;
    }
  };
  // SIGTERM to npm, sh and node alike; node closes the app and exits. Whatever is left of the
  // group after 5 s is killed.
  const stop = async () => {
    if (groupAlive()) process.kill(group, 'SIGTERM');
    await exited;
    for (let waited = 0; groupAlive() && waited < 5_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (groupAlive()) process.kill(group, 'SIGKILL');
  };
  const ready = options.ready ?? new RegExp(`^${template}: http://`);
  const timeout = options.timeoutMs ?? 30_000;
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`npm ${script} printed no URL in ${timeout / 1000} s:\n${output}`)),
        timeout,
      );
      const onLine = (text) => {
        output += `${text}\n`;
        // (Vite colours its output.)
        const plain = stripVTControlCharacters(text);
        if (ready.test(plain)) {
          const match = /(http:\/\/[^\s/]+\/)/.exec(plain);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        }
      };
      createInterface({ input: child.stdout }).on('line', onLine);
      createInterface({ input: child.stderr }).on('line', onLine);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`npm ${script} exited with ${code} before listening:\n${output}`));
      });
    });
    return { url: new URL(url), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
