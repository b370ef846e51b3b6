import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingLogger } from '@gale/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Application,
  type ApplicationOptions,
  decodeSignedValue,
  HTTPError,
  RequestHandler,
  type Route,
  WebSocketError,
} from '../src/index.js';
import { isBun, serve as listen } from './serve-runtime.js';

// Tornado's RequestHandler behaviours (tornado/test/web_test.py), over real sockets with fetch.

const SECRET = 'integration test secret';

const apps: Application[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close(500)));
});

async function serve(routes: Route[], options: ApplicationOptions = {}) {
  const logger = recordingLogger();
  const app = new Application(routes, { logger, cookieSecret: SECRET, ...options });
  apps.push(app);
  const { port, http } = await listen(app);
  return { app, port, logger, url: http };
}

// --- Handlers ---

class JsonEchoHandler extends RequestHandler {
  override async post(): Promise<void> {
    this.write({ received: await this.json() });
  }
}

class ArgumentsHandler extends RequestHandler {
  override async post(): Promise<void> {
    this.write({
      name: await this.getArgument('name'),
      color: await this.getArgument('color', 'blue'),
      tags: await this.getArguments('tag'),
      fromQuery: this.getQueryArgument('name', ''),
    });
  }
}

class FormHandler extends RequestHandler {
  override async post(): Promise<void> {
    const form = await this.form();
    this.write({ fields: Object.fromEntries(form) });
  }
}

class BodySizeHandler extends RequestHandler {
  override async post(): Promise<void> {
    this.write({ size: (await this.body()).length });
  }
}

class GreetingHandler extends RequestHandler {
  override get(name: string): void {
    this.write(`Hello, ${name}`);
  }

  override head(name: string): void {
    this.get(name);
  }
}

class ReadOnlyHandler extends RequestHandler {
  override get(): void {
    this.write({ ok: true });
  }

  override post(): void {
    this.write({ ok: true });
  }
}

class GuardedHandler extends RequestHandler {
  static methodCalls = 0;

  override prepare(): void {
    if (this.request.headers.authorization !== 'Bearer letmein') {
      throw new HTTPError(401, 'Log in first', { headers: { 'WWW-Authenticate': 'Bearer' } });
    }
  }

  override get(): void {
    GuardedHandler.methodCalls++;
    this.write({ secret: 42 });
  }
}

class BrokenHandler extends RequestHandler {
  override get(): void {
    this.setHeader('x-partial', 'yes');
    this.write('partial output');
    throw new Error('database password is hunter2');
  }
}

class ConflictHandler extends RequestHandler {
  override post(): void {
    this.setCookie('seen', '1');
    this.setHeader('x-discarded', 'yes');
    this.write('discarded');
    throw new HTTPError(409, 'Sold out');
  }
}

class RedirectHandler extends RequestHandler {
  override get(): void {
    this.redirect(this.getQueryArgument('to'), Number(this.getQueryArgument('status', '302')));
  }
}

class LoginHandler extends RequestHandler {
  override async post(): Promise<void> {
    const nickname = await this.getArgument('nickname');
    this.setSecureCookie('nickname', nickname);
    this.write({ nickname });
  }

  override get(): void {
    this.write({ nickname: this.getSecureCookie('nickname') ?? null });
  }

  override delete(): void {
    this.clearCookie('nickname');
    this.setStatus(204);
  }
}

class WriteHandler extends RequestHandler {
  override get(kind: string): void {
    if (kind === 'object') this.write({ items: [1, 2], html: '</script>' });
    else if (kind === 'array') this.write([1, 2]);
    else if (kind === 'bytes') this.write(new Uint8Array([0x68, 0x69]));
    else this.finish('plain');
  }
}

// Caller mistakes, each caught and recorded as `name code` (or what else was thrown).
class MistakesHandler extends RequestHandler {
  static caught: Record<string, string> = {};

  override get(): void {
    const record = (what: string, run: () => void): void => {
      try {
        run();
        MistakesHandler.caught[what] = 'nothing thrown';
      } catch (error) {
        MistakesHandler.caught[what] =
          error instanceof WebSocketError ? `${error.name} ${error.code}` : String(error);
      }
    };
    record('setHeader', () => this.setHeader('x-a', 'b\r\nc'));
    record('setCookie', () => this.setCookie('bad name', 'v'));
    this.finish('done');
    record('write', () => this.write('late'));
    record('finish', () => this.finish());
    record('redirect', () => this.redirect('/elsewhere'));
    this.request.release();
    record('raw', () => this.request.raw);
  }
}

const routes: Route[] = [
  ['/json', JsonEchoHandler],
  ['/arguments', ArgumentsHandler],
  ['/form', FormHandler],
  ['/size', BodySizeHandler],
  ['/greet/([^/]+)', GreetingHandler],
  ['/readonly', ReadOnlyHandler],
  ['/guarded', GuardedHandler],
  ['/broken', BrokenHandler],
  ['/conflict', ConflictHandler],
  ['/redirect', RedirectHandler],
  ['/login', LoginHandler],
  ['/write/(\\w+)', WriteHandler],
  ['/mistakes', MistakesHandler],
];

function postJson(url: string, body: string, type = 'application/json'): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': type }, body });
}

// node:http with a keep-alive agent of one socket: the next request reuses the connection.
function rawPost(
  agent: Agent,
  port: number,
  path: string,
  chunks: readonly Buffer[],
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', agent, headers });
    req.on('error', reject);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(parts).toString(),
        }),
      );
    });
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

// --- Tests ---

describe('request bodies', () => {
  it('parses a JSON body', async () => {
    const { url } = await serve(routes);
    const res = await postJson(url('/json'), JSON.stringify({ action: 'add', n: [1, 2] }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: { action: 'add', n: [1, 2] } });
  });

  it('accepts a +json media type with parameters', async () => {
    const { url } = await serve(routes);
    const res = await postJson(
      url('/json'),
      '{"a":1}',
      'application/merge-patch+json; charset=UTF-8',
    );
    expect(await res.json()).toEqual({ received: { a: 1 } });
  });

  it('answers 400 for invalid JSON', async () => {
    const { url } = await serve(routes);
    const res = await postJson(url('/json'), '{"action": ');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toEqual({ status: 400, message: 'Invalid JSON body' });
  });

  it('answers 400 for a JSON body that is not UTF-8', async () => {
    const { url } = await serve(routes);
    const res = await fetch(url('/json'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Uint8Array([0x22, 0xff, 0x22]),
    });
    expect(res.status).toBe(400);
  });

  it('answers 415 when json() meets another content type', async () => {
    const { url } = await serve(routes);
    const res = await postJson(url('/json'), '{}', 'text/plain');
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ status: 415 });
  });

  it('parses a form body', async () => {
    const { url } = await serve(routes);
    const res = await fetch(url('/form'), {
      method: 'POST',
      body: new URLSearchParams({ action: 'remove', note: 'a b&c=é' }),
    });
    expect(await res.json()).toEqual({ fields: { action: 'remove', note: 'a b&c=é' } });
  });

  it('answers 415 when form() meets JSON', async () => {
    const { url } = await serve(routes);
    const res = await postJson(url('/form'), '{}');
    expect(res.status).toBe(415);
  });

  it('answers 413 for a declared Content-Length over maxBodySize, then keeps serving', async () => {
    const { url } = await serve(routes, { maxBodySize: 1024 });
    const tooBig = await fetch(url('/size'), { method: 'POST', body: 'x'.repeat(4096) });
    expect(tooBig.status).toBe(413);
    expect(await tooBig.json()).toMatchObject({ status: 413 });
    const fits = await fetch(url('/size'), { method: 'POST', body: 'x'.repeat(1024) });
    expect(await fits.json()).toEqual({ size: 1024 });
  });

  it('answers 413 for a chunked body once it passes maxBodySize, on a reusable connection', async () => {
    const { port } = await serve(routes, { maxBodySize: 1024 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    agent.on('free', (socket) => sockets.add(socket));
    try {
      const chunk = Buffer.alloc(700, 0x61);
      const tooBig = await rawPost(agent, port, '/size', [chunk, chunk, chunk, chunk]);
      expect(tooBig.status).toBe(413);
      expect(tooBig.headers['transfer-encoding']).toBeUndefined();
      const fits = await rawPost(agent, port, '/size', [chunk]);
      expect(fits.status).toBe(200);
      expect(JSON.parse(fits.body)).toEqual({ size: 700 });
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });
});

describe('arguments', () => {
  it('reads form arguments, the body before the query string', async () => {
    const { url } = await serve(routes);
    const body = new URLSearchParams([
      ['name', 'from-body'],
      ['tag', 'b1'],
      ['tag', 'b2'],
    ]);
    const res = await fetch(url('/arguments?name=from-query&tag=q1'), { method: 'POST', body });
    expect(await res.json()).toEqual({
      name: 'from-body',
      color: 'blue',
      tags: ['q1', 'b1', 'b2'],
      fromQuery: 'from-query',
    });
  });

  it('reads JSON object properties as arguments', async () => {
    const { url } = await serve(routes);
    const res = await postJson(
      url('/arguments'),
      JSON.stringify({ name: 'ada', color: null, tag: ['x', 2, true] }),
    );
    expect(await res.json()).toEqual({
      name: 'ada',
      color: 'blue',
      tags: ['x', '2', 'true'],
      fromQuery: '',
    });
  });

  it('falls back to the query string', async () => {
    const { url } = await serve(routes);
    const res = await fetch(url('/arguments?name=q&color=red'), { method: 'POST' });
    expect(await res.json()).toEqual({ name: 'q', color: 'red', tags: [], fromQuery: 'q' });
  });

  it('answers 400 Missing argument for a required one', async () => {
    const { url } = await serve(routes);
    const res = await postJson(url('/arguments'), '{"nickname":"x"}');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ status: 400, message: 'Missing argument name' });
  });

  it('answers 400 for a JSON argument that is an object', async () => {
    const { url } = await serve(routes);
    const res = await postJson(url('/arguments'), '{"name":{"$ne":null}}');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ status: 400, message: 'Invalid argument name' });
  });

  it('passes URL-decoded path groups to the method', async () => {
    const { url } = await serve(routes);
    const res = await fetch(url('/greet/J%C3%BCrgen'));
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe('Hello, Jürgen');
  });
});

describe('methods and errors', () => {
  it('answers 405 with Allow listing the methods the handler overrides', async () => {
    const { url } = await serve(routes);
    for (const method of ['DELETE', 'PUT', 'PATCH', 'OPTIONS', 'PROPFIND']) {
      const res = await fetch(url('/readonly'), { method });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow'), method).toBe('GET, POST');
      expect(await res.json()).toEqual({ status: 405, message: 'Method Not Allowed' });
    }
  });

  it('does not serve HEAD from get unless head is overridden, as Tornado', async () => {
    const { url } = await serve(routes);
    const readonly = await fetch(url('/readonly'), { method: 'HEAD' });
    expect(readonly.status).toBe(405);
    const greeting = await fetch(url('/greet/bob'), { method: 'HEAD' });
    expect(greeting.status).toBe(200);
    expect(greeting.headers.get('content-length')).toBe(String('Hello, bob'.length));
    expect(await greeting.text()).toBe('');
  });

  it('answers an HTTPError thrown from prepare, with its headers, without calling the method', async () => {
    const { url } = await serve(routes);
    GuardedHandler.methodCalls = 0;
    const denied = await fetch(url('/guarded'));
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer');
    expect(await denied.json()).toEqual({ status: 401, message: 'Log in first' });
    expect(GuardedHandler.methodCalls).toBe(0);

    const allowed = await fetch(url('/guarded'), { headers: { authorization: 'Bearer letmein' } });
    expect(await allowed.json()).toEqual({ secret: 42 });
    expect(GuardedHandler.methodCalls).toBe(1);
  });

  it('answers 500 for an exception, without details, and logs its stack', async () => {
    const { url, logger } = await serve(routes);
    const res = await fetch(url('/broken'));
    expect(res.status).toBe(500);
    expect(res.headers.get('x-partial')).toBeNull();
    const body = await res.text();
    expect(JSON.parse(body)).toEqual({ status: 500, message: 'Internal Server Error' });
    expect(body).not.toMatch(/hunter2|partial/);

    const errors = logger.records.filter((line) => line.level === 'error').map((l) => l.message);
    const uncaught = errors.find((m) => m.startsWith('Uncaught exception GET /broken (127.0.0.1)'));
    expect(uncaught).toContain('Error: database password is hunter2');
    // The handler's frame: V8 names it with its class, Bun's JavaScriptCore by the method alone.
    expect(uncaught).toMatch(
      isBun
        ? /\n\s+at get \(.*request-handler\.integration\.test\.ts:\d+:\d+\)/
        : /\n\s+at .*BrokenHandler\.get/,
    );
  });

  it('discards buffered output and headers on an HTTPError, but keeps cookies', async () => {
    const { url } = await serve(routes);
    const res = await fetch(url('/conflict'), { method: 'POST' });
    expect(res.status).toBe(409);
    expect(res.headers.get('x-discarded')).toBeNull();
    expect(res.headers.getSetCookie()).toEqual(['seen=1; Path=/; HttpOnly; SameSite=Lax']);
    expect(await res.json()).toEqual({ status: 409, message: 'Sold out' });
  });

  it('keeps serving after errors', async () => {
    const { url } = await serve(routes);
    await fetch(url('/broken'));
    await fetch(url('/readonly'), { method: 'PUT' });
    const res = await fetch(url('/readonly'));
    expect(await res.json()).toEqual({ ok: true });
  });
});

describe('output', () => {
  it('writes an object as JSON, escaping </ as Tornado', async () => {
    const { url } = await serve(routes);
    const res = await fetch(url('/write/object'));
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const text = await res.text();
    expect(text).toBe('{"items":[1,2],"html":"<\\/script>"}');
    expect(JSON.parse(text)).toEqual({ items: [1, 2], html: '</script>' });
  });

  it('refuses to write an array, as Tornado refuses lists', async () => {
    const { url, logger } = await serve(routes);
    const res = await fetch(url('/write/array'));
    expect(res.status).toBe(500);
    expect(logger.lines.some((l) => l.includes('wrap arrays in an object'))).toBe(true);
  });

  it('writes bytes and strings with a Content-Length', async () => {
    const { url } = await serve(routes);
    const bytes = await fetch(url('/write/bytes'));
    expect(bytes.headers.get('content-length')).toBe('2');
    expect(await bytes.text()).toBe('hi');
    const plain = await fetch(url('/write/plain'));
    expect(plain.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await plain.text()).toBe('plain');
  });

  it('redirects with 302 by default, or the status given', async () => {
    const { url } = await serve(routes);
    const found = await fetch(url('/redirect?to=/cart'), { redirect: 'manual' });
    expect(found.status).toBe(302);
    expect(found.headers.get('location')).toBe('/cart');
    const moved = await fetch(url('/redirect?to=/caf%C3%A9%20x&status=301'), {
      redirect: 'manual',
    });
    expect(moved.status).toBe(301);
    expect(moved.headers.get('location')).toBe('/caf%C3%A9%20x');
  });

  it('refuses a redirect URL with CR or LF', async () => {
    const { url } = await serve(routes);
    const res = await fetch(url('/redirect?to=/a%0D%0ASet-Cookie:%20evil=1'), {
      redirect: 'manual',
    });
    expect(res.status).toBe(500);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.getSetCookie()).toEqual([]);
  });
});

describe('caller mistakes', () => {
  it('throw InvalidArgumentError or InvalidStateError, not a plain Error', async () => {
    const { url } = await serve(routes);
    const res = await fetch(url('/mistakes'));
    expect(await res.text()).toBe('done');
    expect(MistakesHandler.caught).toEqual({
      setHeader: 'InvalidArgumentError ERR_INVALID_ARGUMENT',
      setCookie: 'InvalidArgumentError ERR_INVALID_ARGUMENT',
      write: 'InvalidStateError ERR_INVALID_STATE',
      finish: 'InvalidStateError ERR_INVALID_STATE',
      redirect: 'InvalidStateError ERR_INVALID_STATE',
      raw: 'InvalidStateError ERR_INVALID_STATE',
    });
  });
});

describe('cookies', () => {
  it('sets a signed cookie and reads it back on the next request', async () => {
    const { url } = await serve(routes);
    const login = await postJson(url('/login'), JSON.stringify({ nickname: 'zoë' }));
    expect(await login.json()).toEqual({ nickname: 'zoë' });
    const [setCookie] = login.headers.getSetCookie();
    expect(setCookie).toMatch(
      /^nickname=2\|1:0\|10:\d{10}\|8:nickname\|8:em\/Dqw==\|[0-9a-f]{64}; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/,
    );
    const expires = Date.parse(/Expires=([^;]+)/.exec(setCookie ?? '')?.[1] ?? '');
    expect(Math.abs(expires - (Date.now() + 30 * 86_400_000))).toBeLessThan(60_000);

    const cookie = (setCookie ?? '').split(';')[0] ?? '';
    expect(decodeSignedValue(SECRET, 'nickname', cookie.slice('nickname='.length), 31)).toBe('zoë');
    const me = await fetch(url('/login'), { headers: { cookie } });
    expect(await me.json()).toEqual({ nickname: 'zoë' });
  });

  it('ignores a tampered, forged or renamed signed cookie', async () => {
    const { url } = await serve(routes);
    const login = await postJson(url('/login'), JSON.stringify({ nickname: 'bob' }));
    const cookie = (login.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
    const value = cookie.slice('nickname='.length);
    // Same layout, another value ("eve"): only the signature can tell.
    const tampered = value.replace(`:${Buffer.from('bob').toString('base64')}|`, ':ZXZl|');
    expect(tampered).not.toBe(value);
    for (const header of [
      `nickname=${tampered}`,
      // The last hex digit of the signature changed (to another digit, whatever it was).
      `nickname=${value.slice(0, -1)}${value.endsWith('0') ? '1' : '0'}`,
      'nickname=bob',
      `other=${value}`,
    ]) {
      const res = await fetch(url('/login'), { headers: { cookie: header } });
      expect(await res.json(), header).toEqual({ nickname: null });
    }
  });

  it('clears a cookie', async () => {
    const { url } = await serve(routes);
    const res = await fetch(url('/login'), { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(res.headers.getSetCookie()).toEqual([
      'nickname=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
    ]);
  });
});

describe('access log', () => {
  it('writes one Tornado-style line per request, at a level by status', async () => {
    const { url, logger } = await serve(routes);
    await fetch(url('/greet/ann?x=1'));
    await fetch(url('/readonly'), { method: 'DELETE' });
    await fetch(url('/broken'));
    const access = logger.records.filter((l) => /^\d{3} /.test(l.message));
    expect(access).toHaveLength(3);
    expect(access[0]?.level).toBe('info');
    expect(access[0]?.message).toMatch(/^200 GET \/greet\/ann \(127\.0\.0\.1\) \d+\.\d{2}ms$/);
    expect(access[1]?.level).toBe('warn');
    expect(access[1]?.message).toMatch(/^405 DELETE \/readonly \(127\.0\.0\.1\) \d+\.\d{2}ms$/);
    expect(access[2]?.level).toBe('error');
    expect(access[2]?.message).toMatch(/^500 GET \/broken \(127\.0\.0\.1\) \d+\.\d{2}ms$/);
  });

  it('writes none when accessLog is off', async () => {
    const { url, logger } = await serve(routes, { accessLog: false });
    await fetch(url('/greet/ann'));
    expect(logger.records).toEqual([]);
  });
});

describe('static files', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'gale-static-'));
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(root, 'app.js'), 'console.log(1);');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('serves files, falls back to index.html for app routes, and 404s missing assets', async () => {
    const { url } = await serve(routes, { staticPath: root });
    const script = await fetch(url('/app.js'));
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect(await script.text()).toBe('console.log(1);');

    const etag = script.headers.get('etag') ?? '';
    expect(etag).not.toBe('');
    const cached = await fetch(url('/app.js'), { headers: { 'if-none-match': etag } });
    expect(cached.status).toBe(304);

    const page = await fetch(url('/chat/room-1'));
    expect(await page.text()).toContain('<title>app</title>');
    expect((await fetch(url('/missing.js'))).status).toBe(404);
    // Routes still win over files.
    expect(await (await fetch(url('/readonly'))).json()).toEqual({ ok: true });
  });
});
