import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServer } from '@gale/test-utils';
import { describe, expect, it } from 'vitest';

// `pnpm start` (node dist/server.js, from `pnpm build`) and its COOKIE_SECRET.
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

  it('starts without it in development, with a generated secret', async () => {
    const server = await startServer(appDir, { NODE_ENV: 'development', COOKIE_SECRET: '' });
    try {
      const answer = await fetch(`${server.url}login`);
      expect(await answer.json()).toEqual({ nickname: null });
    } finally {
      await server.stop();
    }
  });
});
