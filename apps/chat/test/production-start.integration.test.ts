import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startRedis, startServer } from '@gale/test-utils';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { nicknameKey } from '../server/nickname.js';
import { cookieFor, type Endpoint, nick, openTab } from './helpers.js';

// `pnpm start` (node dist/server.js, from `pnpm build`), its COOKIE_SECRET and PRESENCE_GRACE_MS.
const appDir = new URL('../', import.meta.url);
const serverJs = fileURLToPath(new URL('dist/server.js', appDir));

function run(env: Record<string, string | undefined>) {
  const { COOKIE_SECRET: _secret, NODE_ENV: _mode, ...rest } = process.env;
  return new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      [serverJs],
      { env: { ...rest, PORT: '0', ...env }, timeout: 10_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

describe('pnpm start', () => {
  it('refuses to start without COOKIE_SECRET, saying what to set (exit code 1)', async () => {
    for (const env of [{}, { NODE_ENV: 'production' }, { COOKIE_SECRET: '' }]) {
      const { code, stdout, stderr } = await run(env);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/^chat: COOKIE_SECRET is not set\. Set it to a long random string/);
    }
  });

  it('refuses a PRESENCE_GRACE_MS that is not a whole number of milliseconds (exit code 1)', async () => {
    for (const grace of ['soon', '-1', '2.5']) {
      const { code, stdout, stderr } = await run({
        COOKIE_SECRET: 'production-test-secret-0123456789',
        PRESENCE_GRACE_MS: grace,
      });
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr.trim()).toBe(
        `chat: PRESENCE_GRACE_MS must be a whole number of milliseconds, not ${grace}`,
      );
    }
  });

  it('makes "left" wait PRESENCE_GRACE_MS after the last tab closed (here 10 minutes)', async () => {
    const redis = await startRedis();
    const inspector = new Redis(redis.url);
    const server = await startServer(appDir, {
      COOKIE_SECRET: 'production-test-secret-0123456789',
      REDIS_URL: redis.url,
      PRESENCE_GRACE_MS: '600000',
    });
    try {
      const endpoint: Endpoint = {
        http: server.url.slice(0, -1),
        ws: `${server.url.replace('http', 'ws')}chat`,
      };
      const name = nick('slow');
      await (await openTab(endpoint, await cookieFor(endpoint, name), name)).close();
      // The grace period, in Redis, ends 10 minutes after the close (by Redis's clock).
      await expect
        .poll(() => inspector.zscore('{chat:presence}:leaving', nicknameKey(name)))
        .not.toBeNull();
      const [seconds, micros] = await inspector.time();
      const now = Number(seconds) * 1000 + Number(micros) / 1000;
      const ends = Number(await inspector.zscore('{chat:presence}:leaving', nicknameKey(name)));
      expect(ends - now).toBeGreaterThan(500_000);
      expect(ends - now).toBeLessThanOrEqual(600_000);
    } finally {
      await server.stop();
      inspector.disconnect();
      await redis.stop();
    }
  });

  it('starts without it in development, with a generated secret', async () => {
    const server = await startServer(appDir, { NODE_ENV: 'development', COOKIE_SECRET: '' });
    try {
      const answer = await fetch(`${server.url}login`);
      expect(await answer.json()).toEqual({ nickname: null });
    } finally {
      await server.stop();
    }
  });

  it('marks cookies Secure behind a TLS proxy named in TRUSTED_PROXIES, and only then', async () => {
    const env = { COOKIE_SECRET: 'production-test-secret-0123456789' };
    const behindProxy = await startServer(appDir, { ...env, TRUSTED_PROXIES: '127.0.0.1' });
    const direct = await startServer(appDir, env);
    try {
      const viaTls = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '203.0.113.5' };
      // GET /login sets the _xsrf cookie, the one cookie a visitor gets before signing in.
      const xsrfCookie = async (url: string, headers: Record<string, string>) =>
        (await fetch(`${url}login`, { headers })).headers
          .getSetCookie()
          .find((c) => c.startsWith('_xsrf='));
      expect(await xsrfCookie(behindProxy.url, viaTls)).toMatch(/; Secure/);
      expect(await xsrfCookie(behindProxy.url, {})).not.toMatch(/Secure/);
      // From a peer that is not a trusted proxy, the header is ignored.
      expect(await xsrfCookie(direct.url, viaTls)).not.toMatch(/Secure/);
    } finally {
      await Promise.all([behindProxy.stop(), direct.stop()]);
    }
  });
});
