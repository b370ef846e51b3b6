import { spawn } from 'node:child_process';
import { type RedisProcess, type ServerProcess, startRedis, startServer } from '@gale/test-utils';
import { afterAll, describe, expect, it } from 'vitest';

// `pnpm start` (node dist/server.js, the production build): the COOKIE_SECRET guard, and
// REDIS_URL turning two processes into one shop.
const appDir = new URL('../', import.meta.url);
const servers: ServerProcess[] = [];
let redis: RedisProcess | undefined;

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  await redis?.stop();
});

/** Runs `node dist/server.js` with `env` (on top of ours, minus `unset`) until it exits. */
function run(
  env: Record<string, string>,
  unset: string[],
): Promise<{ code: number | null; stderr: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env };
  for (const name of unset) delete childEnv[name];
  const child = spawn(process.execPath, [new URL('dist/server.js', appDir).pathname], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout.on('data', () => {
    // Listening means the guard let it through: stop it, the test then fails on the exit code.
    child.kill('SIGTERM');
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
}

describe('pnpm start', () => {
  it('refuses to start without COOKIE_SECRET, saying what to set', async () => {
    const { code, stderr } = await run({}, ['COOKIE_SECRET', 'NODE_ENV']);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^cart-counter: set COOKIE_SECRET /);
    // Also in any NODE_ENV but development.
    expect((await run({ NODE_ENV: 'production' }, ['COOKIE_SECRET'])).code).toBe(1);
  });

  it('starts without COOKIE_SECRET in NODE_ENV=development (a throwaway secret)', async () => {
    const server = await startServer(appDir, { NODE_ENV: 'development', COOKIE_SECRET: '' });
    servers.push(server);
    expect((await fetch(`${server.url}cart`)).status).toBe(200);
  });

  it('with REDIS_URL and one COOKIE_SECRET, two processes are one shop', async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, COOKIE_SECRET: 'production-test-secret-0123456789' };
    const a = await startServer(appDir, { ...env, INITIAL_STOCK: '3' });
    servers.push(a);
    const b = await startServer(appDir, { ...env, INITIAL_STOCK: '3' });
    servers.push(b);
    // As the page does: GET /cart (the session and _xsrf cookies), then POST with the token.
    const loaded = await fetch(`${a.url}cart`);
    const cookies = loaded.headers.getSetCookie().map((header) => header.split(';', 1)[0]!);
    const token = cookies.find((pair) => pair.startsWith('_xsrf='))!.slice('_xsrf='.length);
    const added = await fetch(`${a.url}cart`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Cookie: cookies.join('; '),
        'X-XSRFToken': token,
      },
      body: '{"action":"add"}',
    });
    expect(await added.json()).toMatchObject({ inventoryCount: 2, inCart: true });
    // The session, signed by a, is valid on b.
    const onB = await fetch(`${b.url}cart`, { headers: { Cookie: cookies.join('; ') } });
    expect(await onB.json()).toMatchObject({ inventoryCount: 2, inCart: true });
    expect(onB.headers.getSetCookie()).toEqual([]);
  });

  it('marks cookies Secure behind a TLS proxy named in TRUSTED_PROXIES, and only then', async () => {
    const env = { COOKIE_SECRET: 'production-test-secret-0123456789' };
    const behindProxy = await startServer(appDir, {
      ...env,
      TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1',
    });
    servers.push(behindProxy);
    const direct = await startServer(appDir, env);
    servers.push(direct);
    const viaTls = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '203.0.113.5' };
    const cookies = async (url: string, headers: Record<string, string>) =>
      (await fetch(`${url}cart`, { headers })).headers.getSetCookie();
    const secure = await cookies(behindProxy.url, viaTls);
    expect(secure.length).toBeGreaterThan(0);
    for (const cookie of secure) expect(cookie).toMatch(/; Secure/);
    // Over plain http, or from a peer that is not a trusted proxy: no Secure.
    for (const cookie of await cookies(behindProxy.url, {})) expect(cookie).not.toMatch(/Secure/);
    const spoofed = await cookies(direct.url, viaTls);
    expect(spoofed.length).toBeGreaterThan(0);
    for (const cookie of spoofed) expect(cookie).not.toMatch(/Secure/);
  });
});
