import { serve } from '@gale/test-utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SESSION_COOKIE } from '../server/session.js';

// `pnpm dev` without COOKIE_SECRET: the Vite plugin loads server.ts again after every edit, in
// the same process. The made-up secret must outlive the module, or each edit ends every session.
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
  it('keeps the session cookie valid after the server module is loaded again', async () => {
    const before = (await loadServerModule()).createApplication({ accessLog: false });
    const first = await serve(before);
    const created = await fetch(first.http('/cart'));
    const cookie = created.headers
      .getSetCookie()
      .map((header) => header.split(';', 1)[0]!)
      .find((pair) => pair.startsWith(`${SESSION_COOKIE}=`))!;
    expect(cookie).toBeDefined();
    await before.close();

    const after = (await loadServerModule()).createApplication({ accessLog: false });
    try {
      const second = await serve(after);
      const answer = await fetch(second.http('/cart'), { headers: { Cookie: cookie } });
      expect(answer.status).toBe(200);
      // Still valid: no new session replaces it (only the _xsrf cookie, not sent here, is set).
      const setCookies = answer.headers.getSetCookie();
      expect(setCookies.filter((header) => header.startsWith(`${SESSION_COOKIE}=`))).toEqual([]);
    } finally {
      await after.close();
    }
  });
});
