import { serve } from '@gale/test-utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// `pnpm dev` without COOKIE_SECRET: the Vite plugin loads server.ts again after every edit, in
// the same process. The made-up secret must outlive the module, or each edit logs everyone out.
const secret = process.env['COOKIE_SECRET'];

beforeAll(() => {
  delete process.env['COOKIE_SECRET'];
});

afterAll(() => {
  if (secret !== undefined) process.env['COOKIE_SECRET'] = secret;
});

/** server.ts as a reload sees it: a fresh module, evaluated again. */
async function loadServerModule(): Promise<typeof import('../server.js')> {
  vi.resetModules();
  return import('../server.js');
}

describe('pnpm dev without COOKIE_SECRET', () => {
  it('keeps the login cookie valid after the server module is loaded again', async () => {
    const before = (await loadServerModule()).createApplication({ accessLog: false });
    const first = await serve(before);
    // As the page does: GET /login for the _xsrf cookie, then POST with its token.
    const loaded = await fetch(first.http('/login'));
    const xsrf = loaded.headers.getSetCookie()[0]!.split(';', 1)[0]!;
    const login = await fetch(first.http('/login'), {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Cookie: xsrf,
        'X-XSRFToken': xsrf.slice('_xsrf='.length),
      },
      body: JSON.stringify({ nickname: 'Ada' }),
    });
    expect(login.status).toBe(200);
    const cookie = login.headers
      .getSetCookie()
      .map((header) => header.split(';', 1)[0]!)
      .find((pair) => pair.startsWith('nickname='))!;
    await before.close();

    const after = (await loadServerModule()).createApplication({ accessLog: false });
    try {
      const second = await serve(after);
      const answer = await fetch(second.http('/login'), { headers: { Cookie: cookie } });
      expect(await answer.json()).toEqual({ nickname: 'Ada' });
    } finally {
      await after.close();
    }
  });
});
