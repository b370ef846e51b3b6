import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { recordingLogger } from '@gale/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { Application, type ApplicationOptions, RequestHandler, type Route } from '../src/index.js';
import { serve } from './serve-runtime.js';

// Tornado's xsrf_cookies (tornado/test/web_test.py's XSRFTest), plus the Origin check, over
// real sockets.

const apps: Application[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close(500)));
});

/** A page that hands out the token, and a form target that counts what it accepted. */
class CounterHandler extends RequestHandler {
  static count = 0;

  override get(): void {
    this.write({ token: this.xsrfToken, field: this.xsrfFormHtml() });
  }

  override async post(): Promise<void> {
    CounterHandler.count++;
    this.setCookie('session', 'minted');
    this.write({ count: CounterHandler.count });
  }

  override delete(): void {
    CounterHandler.count = 0;
    this.setStatus(204);
  }
}

/** An API that authenticates otherwise, exempt from the token (but not from the Origin check). */
class ExemptHandler extends RequestHandler {
  override checkXsrfCookie(): Promise<void> {
    return Promise.resolve();
  }

  override post(): void {
    this.write({ ok: true });
  }
}

const routes: Route[] = [
  ['/counter', CounterHandler],
  ['/api', ExemptHandler],
];

async function start(options: ApplicationOptions = {}) {
  const logger = recordingLogger();
  const app = new Application(routes, { logger, xsrfCookies: true, ...options });
  apps.push(app);
  CounterHandler.count = 0;
  const served = await serve(app);
  return { ...served, logger };
}

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The `_xsrf` cookie a GET set, as `name=value`, and the token it answered with. */
async function tokenFrom(port: number): Promise<{ cookie: string; token: string; raw: string }> {
  const reply = await send(port, 'GET', '/counter');
  const raw = (reply.headers['set-cookie'] ?? []).find((c) => c.startsWith('_xsrf=')) ?? '';
  const cookie = raw.split(';')[0] ?? '';
  const { token } = JSON.parse(reply.body) as { token: string };
  return { cookie, token, raw };
}

const FORM = 'application/x-www-form-urlencoded';

describe('xsrfCookies', () => {
  it('hands out a token: a readable, SameSite=Lax _xsrf cookie and a hidden field', async () => {
    const { port } = await start();
    const reply = await send(port, 'GET', '/counter');
    const cookie = (reply.headers['set-cookie'] ?? []).find((c) => c.startsWith('_xsrf='));
    expect(cookie).toMatch(/^_xsrf=2\|[0-9a-f]{8}\|[0-9a-f]{32}\|\d+; Path=\/; SameSite=Lax$/);
    const { token, field } = JSON.parse(reply.body) as { token: string; field: string };
    expect(field).toBe(`<input type="hidden" name="_xsrf" value="${token}">`);
    // A request that already has the cookie gets no new one, and a token masked anew.
    const again = await send(port, 'GET', '/counter', { cookie: cookie?.split(';')[0] ?? '' });
    expect(again.headers['set-cookie']).toBeUndefined();
    expect((JSON.parse(again.body) as { token: string }).token).not.toBe(token);
  });

  it('accepts the token in the X-XSRFToken or X-CSRFToken header, a form field or JSON', async () => {
    const { port } = await start();
    const { cookie, token } = await tokenFrom(port);
    const ok = [
      await send(port, 'POST', '/counter', { cookie, 'x-xsrftoken': token }),
      await send(port, 'POST', '/counter', { cookie, 'x-csrftoken': token }),
      await send(
        port,
        'POST',
        '/counter',
        { cookie, 'content-type': FORM },
        `_xsrf=${encodeURIComponent(token)}`,
      ),
      await send(
        port,
        'POST',
        '/counter',
        { cookie, 'content-type': 'application/json' },
        JSON.stringify({ _xsrf: token }),
      ),
      // The cookie's own value, as a script reading document.cookie would send it.
      await send(port, 'POST', '/counter', { cookie, 'x-xsrftoken': cookie.slice(6) }),
    ];
    expect(ok.map((reply) => reply.status)).toEqual([200, 200, 200, 200, 200]);
    expect(CounterHandler.count).toBe(5);
  });

  it('refuses a POST without the token, with a wrong one, or without the cookie: 403, nothing changed, no cookie set', async () => {
    const { port, logger } = await start();
    const { cookie, token } = await tokenFrom(port);
    const other = await tokenFrom(port);
    const cases: [Record<string, string>, string][] = [
      [{ cookie }, "'_xsrf' argument missing from POST"],
      [{ cookie, 'x-xsrftoken': 'forged' }, "'_xsrf' argument has invalid format"],
      [{ cookie, 'x-xsrftoken': other.token }, 'XSRF cookie does not match POST argument'],
      [{ 'x-xsrftoken': token }, "'_xsrf' cookie missing or malformed"],
    ];
    for (const [headers, message] of cases) {
      const reply = await send(port, 'POST', '/counter', headers);
      expect(reply.status, message).toBe(403);
      expect((JSON.parse(reply.body) as { message: string }).message).toContain(message);
      expect(reply.headers['set-cookie'], message).toBeUndefined();
    }
    // DELETE, PUT and PATCH are checked too.
    expect((await send(port, 'DELETE', '/counter', { cookie })).status).toBe(403);
    expect(CounterHandler.count).toBe(0);
    expect(logger.records.filter((r) => r.level === 'warn').length).toBeGreaterThanOrEqual(5);
    // And the server goes on serving.
    expect((await send(port, 'POST', '/counter', { cookie, 'x-xsrftoken': token })).status).toBe(
      200,
    );
  });

  it('refuses a request from another origin even with a valid token: another port of the same host, another site, Origin null', async () => {
    const { port } = await start();
    const { cookie, token } = await tokenFrom(port);
    const withToken = { cookie, 'x-xsrftoken': token };
    const refused = [
      { ...withToken, origin: `http://127.0.0.1:${port + 1}` },
      { ...withToken, origin: 'null' },
      { ...withToken, origin: `http://127.0.0.1:${port + 1}`, 'sec-fetch-site': 'same-site' },
      { ...withToken, 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of refused) {
      const reply = await send(port, 'POST', '/counter', headers);
      expect(reply.status, JSON.stringify(headers)).toBe(403);
      expect(reply.body).toContain('Cross-origin POST refused');
    }
    // The exempt API skips the token, not the Origin check.
    expect((await send(port, 'POST', '/api', { origin: 'https://evil.example' })).status).toBe(403);
    expect((await send(port, 'POST', '/api')).status).toBe(200);
    const same = [
      { ...withToken, origin: `http://127.0.0.1:${port}` },
      { ...withToken, 'sec-fetch-site': 'same-origin', origin: `http://127.0.0.1:${port}` },
    ];
    for (const headers of same) {
      expect((await send(port, 'POST', '/counter', headers)).status).toBe(200);
    }
    expect(CounterHandler.count).toBe(2);
  });

  it('lets origins in allowedOrigins through', async () => {
    const { port } = await start({ allowedOrigins: ['https://admin.example'] });
    const { cookie, token } = await tokenFrom(port);
    const reply = await send(port, 'POST', '/counter', {
      cookie,
      'x-xsrftoken': token,
      origin: 'https://admin.example',
      'sec-fetch-site': 'cross-site',
    });
    expect(reply.status).toBe(200);
  });

  it('checks nothing without the setting (the default), as Tornado', async () => {
    const { port } = await start({ xsrfCookies: false });
    const reply = await send(port, 'POST', '/counter', { origin: 'https://evil.example' });
    expect(reply.status).toBe(200);
  });
});
