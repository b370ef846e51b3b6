// @gale/server/bun's HTTP side: RequestHandler routes and static files served by Bun.serve's fetch
// through the code node:http runs, over real sockets. Runs under Bun only (`pnpm test:bun`).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingLogger } from '@gale/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '../../src/bun.js';
import {
  Application,
  type ApplicationOptions,
  decodeSignedValue,
  HTTPError,
  RequestHandler,
  type Route,
  WebSocketHandler,
} from '../../src/index.js';
import { connect, nextMessage } from './raw-client.js';

const SECRET = 'bun http test secret';
const apps: Application[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close({ timeoutMs: 1000 })));
});

function start(routes: readonly Route[], options: ApplicationOptions = {}) {
  const logger = recordingLogger();
  const app = new Application(routes, {
    logger,
    accessLog: false,
    cookieSecret: SECRET,
    ...options,
  });
  apps.push(app);
  const server = serve(app, { port: 0, hostname: '127.0.0.1' });
  const origin = `http://127.0.0.1:${server.port}`;
  return { app, port: server.port, logger, origin, url: (path: string) => `${origin}${path}` };
}

/** What the server wrote, byte for byte: for requests `fetch` would normalise (`/../x`). */
function rawRequest(port: number, head: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write(head));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(text.slice(9, 12)), text }));
  });
}

/** The `name=value` pairs of a response's Set-Cookie headers, for a Cookie header. */
function cookieHeader(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((cookie) => cookie.split(';', 1)[0])
    .join('; ');
}

// --- Handlers ---

class GreetingHandler extends RequestHandler {
  override get(name: string): void {
    this.setHeader('x-greeting', 'yes');
    this.write(`Hello, ${name}, ${this.getQueryArgument('mood', 'fine')}`);
  }

  override head(name: string): void {
    this.get(name);
  }
}

class ArgumentsHandler extends RequestHandler {
  override async post(): Promise<void> {
    this.write({
      name: await this.getArgument('name'),
      tags: await this.getArguments('tag'),
      size: (await this.body()).length,
    });
  }
}

class JsonEchoHandler extends RequestHandler {
  override async put(): Promise<void> {
    this.write({ received: await this.json() });
  }
}

class CookieHandler extends RequestHandler {
  override get(): void {
    this.write({
      plain: this.getCookie('plain') ?? null,
      signed: this.getSecureCookie('signed') ?? null,
    });
  }

  override post(): void {
    this.setCookie('plain', 'a value; with=signs');
    this.setSecureCookie('signed', 'ann');
    this.setStatus(201);
  }
}

class FailingHandler extends RequestHandler {
  override get(): void {
    this.write('never sent');
    throw new HTTPError(418, "I'm a teapot", { headers: { 'x-why': 'tea' } });
  }
}

class BrokenHandler extends RequestHandler {
  override get(): void {
    throw new Error('bug');
  }
}

class RedirectHandler extends RequestHandler {
  override get(): void {
    this.redirect('/greet/there', 303);
  }
}

class FormPage extends RequestHandler {
  override get(): void {
    this.write({ token: this.xsrfToken });
  }

  override post(): void {
    this.write({ posted: true });
  }
}

class Echo extends WebSocketHandler {
  override onMessage(message: string | Uint8Array): void {
    void this.writeMessage(message, { binary: typeof message !== 'string' });
  }
}

const routes: Route[] = [
  ['/greet/(\\w+)', GreetingHandler],
  ['/args', ArgumentsHandler],
  ['/json', JsonEchoHandler],
  ['/cookies', CookieHandler],
  ['/teapot', FailingHandler],
  ['/broken', BrokenHandler],
  ['/redirect', RedirectHandler],
  ['/echo', Echo],
];

describe('RequestHandler routes on Bun', () => {
  it('answers GET with the path arguments, query, headers and body', async () => {
    const { url } = start(routes);
    const response = await fetch(url('/greet/ann?mood=glad'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(response.headers.get('x-greeting')).toBe('yes');
    expect(await response.text()).toBe('Hello, ann, glad');
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const { port } = start(routes);
    const { status, text } = await rawRequest(
      port,
      'HEAD /greet/ann HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(status).toBe(200);
    expect(text.toLowerCase()).toContain('content-length: 16\r\n');
    expect(text.endsWith('\r\n\r\n')).toBe(true);
  });

  it('reads a form body and the query string as arguments', async () => {
    const { url } = start(routes);
    const response = await fetch(url('/args?tag=q'), {
      method: 'POST',
      body: new URLSearchParams([
        ['name', 'ann'],
        ['tag', 'a'],
        ['tag', 'b'],
      ]),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.json()).toEqual({ name: 'ann', tags: ['q', 'a', 'b'], size: 20 });
  });

  it('reads a streamed body of many chunks whole', async () => {
    const { url } = start(routes);
    const chunk = 'x'.repeat(64 * 1024);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(new TextEncoder().encode(chunk));
        controller.close();
      },
    });
    const response = await fetch(url('/args?name=ann'), {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(await response.json()).toEqual({ name: 'ann', tags: [], size: 8 * 64 * 1024 });
  });

  it('parses JSON, and answers a missing argument with 400 and bad JSON with 400', async () => {
    const { url } = start(routes);
    const json = await fetch(url('/json'), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: [1, 'two'] }),
    });
    expect(await json.json()).toEqual({ received: { a: [1, 'two'] } });
    const missing = await fetch(url('/args'), { method: 'POST' });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ status: 400, message: 'Missing argument name' });
    const bad = await fetch(url('/json'), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(bad.status).toBe(400);
  });

  it('answers 413 for a body over maxBodySize', async () => {
    const { url } = start(routes, { maxBodySize: 10 });
    const response = await fetch(url('/args'), {
      method: 'POST',
      body: new URLSearchParams({ name: 'a-long-name' }),
    });
    expect(response.status).toBe(413);
  });

  it('sets several cookies, and reads them back, the signed one verified', async () => {
    const { url } = start(routes);
    const set = await fetch(url('/cookies'), { method: 'POST' });
    expect(set.status).toBe(201);
    const cookies = set.headers.getSetCookie();
    expect(cookies).toHaveLength(2);
    expect(cookies[0]).toBe('plain=a%20value%3B%20with%3Dsigns; Path=/; HttpOnly; SameSite=Lax');
    const signed = /^signed=([^;]+)/.exec(cookies[1] ?? '')?.[1] ?? '';
    expect(decodeSignedValue(SECRET, 'signed', signed, 31)).toBe('ann');
    const read = await fetch(url('/cookies'), { headers: { cookie: cookieHeader(set) } });
    expect(await read.json()).toEqual({ plain: 'a value; with=signs', signed: 'ann' });
    const forged = await fetch(url('/cookies'), {
      headers: { cookie: `signed=${signed.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a'))}` },
    });
    expect(await forged.json()).toEqual({ plain: null, signed: null });
  });

  it('answers an HTTPError with its status, message and headers, not what was written', async () => {
    const { url } = start(routes);
    const response = await fetch(url('/teapot'));
    expect(response.status).toBe(418);
    expect(response.headers.get('x-why')).toBe('tea');
    expect(await response.json()).toEqual({ status: 418, message: "I'm a teapot" });
  });

  it('answers an uncaught exception with 500 and logs it', async () => {
    const { url, logger } = start(routes);
    const response = await fetch(url('/broken'));
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ status: 500, message: 'Internal Server Error' });
    expect(logger.lines.some((line) => line.startsWith('Uncaught exception GET /broken'))).toBe(
      true,
    );
  });

  it('redirects', async () => {
    const { url } = start(routes);
    const response = await fetch(url('/redirect'), { redirect: 'manual' });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/greet/there');
  });

  it("answers 405 with Allow for a method the handler lacks, 404 for no route, and Tornado's 400 to a plain GET of a WebSocket route", async () => {
    const { url } = start(routes);
    const notAllowed = await fetch(url('/redirect'), { method: 'DELETE' });
    expect(notAllowed.status).toBe(405);
    expect(notAllowed.headers.get('allow')).toBe('GET');
    const missing = await fetch(url('/nowhere'));
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('Not Found');
    const plain = await fetch(url('/echo'));
    expect(plain.status).toBe(400);
    expect(await plain.text()).toBe('Can "Upgrade" only to "WebSocket".');
  });

  it('answers 404 to an upgrade to an HTTP route, and serves a request that only names Upgrade, as node:http', async () => {
    const { port } = start(routes);
    const head = (connection: string) =>
      `GET /greet/ann HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: ${connection}\r\n\r\n`;
    expect((await rawRequest(port, head('Upgrade, close'))).status).toBe(404);
    const served = await rawRequest(port, head('close'));
    expect(served.status).toBe(200);
    expect(served.text.endsWith('Hello, ann, fine')).toBe(true);
  });

  it('writes an access-log line per request', async () => {
    const { url, logger } = start(routes, { accessLog: true });
    await fetch(url('/greet/ann?x=1'));
    await fetch(url('/nowhere'));
    const access = logger.records.filter((record) => /^\d{3} /.test(record.message));
    expect(access.map((record) => record.level)).toEqual(['info', 'warn']);
    expect(access[0]?.message).toMatch(/^200 GET \/greet\/ann \(127\.0\.0\.1\) \d+\.\d{2}ms$/);
    expect(access[1]?.message).toMatch(/^404 GET \/nowhere \(127\.0\.0\.1\) \d+\.\d{2}ms$/);
  });

  it('Bun difference: request.raw is a stand-in with the method, URL, version, headers and socket address, and nothing else of node:http', async () => {
    class RawHandler extends RequestHandler {
      override get(): void {
        const raw = this.request.raw;
        this.write({
          method: raw.method,
          url: raw.url,
          header: raw.headers['x-probe'],
          remoteAddress: raw.socket.remoteAddress,
          encrypted: (raw.socket as { encrypted?: boolean }).encrypted === true,
          setTimeout: typeof (raw as { setTimeout?: unknown }).setTimeout,
          httpVersion: raw.httpVersion,
        });
      }
    }
    const { url } = start([['/raw', RawHandler]]);
    const response = await fetch(url('/raw?a=1'), { headers: { 'x-probe': 'seen' } });
    expect(await response.json()).toEqual({
      method: 'GET',
      url: '/raw?a=1',
      header: 'seen',
      remoteAddress: '127.0.0.1',
      encrypted: false,
      setTimeout: 'undefined',
      httpVersion: '1.1',
    });
  });

  it('serves WebSockets on the same server', async () => {
    const { port, url } = start(routes);
    const client = await connect(port, '/echo');
    expect(client.status).toBe(101);
    client.sendText('next to HTTP');
    expect(await nextMessage(client)).toBe('next to HTTP');
    expect((await fetch(url('/greet/ws'))).status).toBe(200);
  });
});

describe('XSRF on Bun', () => {
  const xsrfRoutes: Route[] = [['/form', FormPage]];

  it('refuses a POST without the token with 403, and accepts one with the cookie and token', async () => {
    const { url, origin } = start(xsrfRoutes, { xsrfCookies: true });
    const page = await fetch(url('/form'));
    const { token } = (await page.json()) as { token: string };
    const cookie = cookieHeader(page);
    expect(cookie).toMatch(/^_xsrf=2\|/);
    const without = await fetch(url('/form'), { method: 'POST', headers: { cookie } });
    expect(without.status).toBe(403);
    expect(((await without.json()) as { message: string }).message).toMatch(
      /'_xsrf' argument missing/,
    );
    const accepted = await fetch(url('/form'), {
      method: 'POST',
      headers: { cookie, 'x-xsrftoken': token, origin },
    });
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toEqual({ posted: true });
  });

  it('refuses a cross-origin POST with 403 even with the token', async () => {
    const { url } = start(xsrfRoutes, { xsrfCookies: true });
    const page = await fetch(url('/form'));
    const { token } = (await page.json()) as { token: string };
    const refused = await fetch(url('/form'), {
      method: 'POST',
      headers: { cookie: cookieHeader(page), 'x-xsrftoken': token, origin: 'http://evil.example' },
    });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { message: string }).message).toMatch(/Cross-origin POST/);
  });
});

describe('static files on Bun', () => {
  let base: string;
  let root: string;
  const INDEX = '<!doctype html><title>app</title>';
  const script = 'console.log("static");\n'.repeat(10_000);

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'gale-bun-static-'));
    root = join(base, 'public');
    mkdirSync(root);
    writeFileSync(join(root, 'index.html'), INDEX);
    writeFileSync(join(root, 'app.js'), script);
    writeFileSync(join(base, 'secret.txt'), 'top secret');
  });

  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('serves a file with its content type, length, ETag and Last-Modified', async () => {
    const { url } = start(routes, { staticPath: root });
    const response = await fetch(url('/index.html'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html;charset=utf-8');
    expect(response.headers.get('content-length')).toBe(String(INDEX.length));
    expect(response.headers.get('etag')).toMatch(/^W\/"\d+-\d+"$/);
    expect(response.headers.get('last-modified')).toMatch(/GMT$/);
    expect(await response.text()).toBe(INDEX);
  });

  it('streams a file larger than one read whole (chunked: Bun drops the length of a stream)', async () => {
    const { url } = start(routes, { staticPath: root });
    const response = await fetch(url('/app.js'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/javascript');
    expect(await response.text()).toBe(script);
  });

  it('answers 304 to a request with the ETag, and serves a range with 206', async () => {
    const { url } = start(routes, { staticPath: root });
    const etag = (await fetch(url('/app.js'))).headers.get('etag') ?? '';
    const notModified = await fetch(url('/app.js'), { headers: { 'if-none-match': etag } });
    expect(notModified.status).toBe(304);
    expect(await notModified.text()).toBe('');
    const range = await fetch(url('/app.js'), { headers: { range: 'bytes=0-6' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe(`bytes 0-6/${script.length}`);
    expect(await range.text()).toBe('console');
  });

  it('serves index.html for client-side routes, and routes before files', async () => {
    const { url } = start(routes, { staticPath: root });
    const page = await fetch(url('/some/page'));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html;charset=utf-8');
    expect(await page.text()).toBe(INDEX);
    expect(await (await fetch(url('/greet/ann'))).text()).toBe('Hello, ann, fine');
    expect((await fetch(url('/missing.js'))).status).toBe(404);
  });

  it('answers HEAD with the length and no body', async () => {
    const { port } = start(routes, { staticPath: root });
    const { status, text } = await rawRequest(
      port,
      'HEAD /app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(status).toBe(200);
    expect(text.toLowerCase()).toContain(`content-length: ${script.length}\r\n`);
    expect(text.endsWith('\r\n\r\n')).toBe(true);
  });

  it('never serves a file outside staticPath', async () => {
    const { port } = start(routes, { staticPath: root });
    const get = (target: string) =>
      rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    for (const target of ['/../secret.txt', '/%2e%2e/secret.txt', '/public/../../secret.txt']) {
      const { status, text } = await get(target);
      expect(status, target).toBe(404);
      expect(text, target).not.toContain('top secret');
    }
    // An encoded slash is no file name sirv knows: the single-page app's index.html, as on Node.
    const encoded = await get('/..%2fsecret.txt');
    expect(encoded.text).not.toContain('top secret');
    expect(encoded.text.endsWith(INDEX)).toBe(true);
  });
});
