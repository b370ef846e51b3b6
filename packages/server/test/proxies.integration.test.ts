import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { recordingLogger } from '@gale/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  Application,
  type ApplicationOptions,
  InvalidSettingError,
  RequestHandler,
  type Route,
  WebSocketHandler,
} from '../src/index.js';
import { isBun, serve } from './serve-runtime.js';

// xheaders with trusted proxies, and cookieSecure, over real sockets: the "proxy" and the
// "stranger" are clients bound to two different loopback addresses.

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const PROXY = '127.0.0.1';
const STRANGER = '127.0.0.2';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

class WhoHandler extends RequestHandler {
  override get(): void {
    this.setCookie('plain', 'v');
    this.setSecureCookie('signed', 'v');
    this.setCookie('forced', 'v', { secure: false });
    void this.xsrfToken;
    this.write({ remoteAddress: this.request.remoteAddress, protocol: this.request.protocol });
  }
}

class EchoSocket extends WebSocketHandler {
  override open(): void {
    void this.writeMessage(`${this.request.remoteAddress} ${this.request.protocol}`);
  }
}

const routes: Route[] = [
  ['/who', WhoHandler],
  ['/ws', EchoSocket],
];

async function start(options: ApplicationOptions = {}) {
  const logger = recordingLogger();
  const app = new Application(routes, { logger, cookieSecret: 'proxies test', ...options });
  closers.push(() => app.close(500));
  const served = await serve(app);
  return { ...served, logger };
}

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: { remoteAddress: string; protocol: string };
}

function get(
  port: number,
  localAddress: string,
  headers: Record<string, string> = {},
  tls = false,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, path: '/who', localAddress, headers };
    const onResponse = (res: import('node:http').IncomingMessage) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }),
      );
    };
    const req = tls
      ? httpsRequest({ ...options, ca: fixture('localhost-cert.pem') }, onResponse)
      : httpRequest(options, onResponse);
    req.on('error', reject);
    req.end();
  });
}

/** Whether each cookie the reply set is marked Secure, by name. */
function secureByName(reply: Reply): Record<string, boolean> {
  return Object.fromEntries(
    (reply.headers['set-cookie'] ?? []).map((c) => [
      c.slice(0, c.indexOf('=')),
      /;\s*Secure(;|$)/i.test(c),
    ]),
  );
}

const FORWARDED = { 'x-forwarded-for': '203.0.113.5, 198.51.100.7', 'x-forwarded-proto': 'https' };

describe('xheaders', () => {
  it('believes X-Forwarded-* from a trusted proxy and ignores them from anyone else', async () => {
    const { port, logger } = await start({ xheaders: true, trustedProxies: [PROXY] });
    const viaProxy = await get(port, PROXY, FORWARDED);
    // 198.51.100.7 is the rightmost address the proxy did not vouch for as one of its own.
    expect(viaProxy.body).toEqual({ remoteAddress: '198.51.100.7', protocol: 'https' });
    const spoofed = await get(port, STRANGER, FORWARDED);
    expect(spoofed.body).toEqual({ remoteAddress: STRANGER, protocol: 'http' });
    const realIp = await get(port, PROXY, { 'x-real-ip': '203.0.113.9' });
    expect(realIp.body.remoteAddress).toBe('203.0.113.9');
    // The access log names the client, not the proxy.
    const lines = logger.records.map((r) => r.message);
    expect(lines.some((line) => line.includes('GET /who (198.51.100.7)'))).toBe(true);
    expect(lines.some((line) => line.includes(`GET /who (${STRANGER})`))).toBe(true);
  });

  it('ignores the headers from everyone by default (xheaders off)', async () => {
    const { port } = await start();
    const reply = await get(port, PROXY, FORWARDED);
    expect(reply.body).toEqual({ remoteAddress: PROXY, protocol: 'http' });
  });

  it('trusts loopback by default once xheaders is on', async () => {
    const { port } = await start({ xheaders: true });
    expect((await get(port, STRANGER, { 'x-real-ip': '203.0.113.9' })).body.remoteAddress).toBe(
      '203.0.113.9',
    );
  });

  it('gives a WebSocket handler and the upgrade log the client behind the proxy', async () => {
    const { port, logger } = await start({ xheaders: true, trustedProxies: [PROXY] });
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, {
      localAddress: PROXY,
      headers: FORWARDED,
    });
    const first = await new Promise<string>((resolve, reject) => {
      socket.once('message', (data) => resolve(String(data)));
      socket.once('error', reject);
    });
    socket.close();
    expect(first).toBe('198.51.100.7 https');
    expect(logger.records.some((r) => r.message.includes('101 GET /ws (198.51.100.7)'))).toBe(true);
  });

  it('refuses a trustedProxies entry that is not an address or subnet', () => {
    expect(
      () => new Application(routes, { xheaders: true, trustedProxies: ['proxy.local'] }),
    ).toThrow(InvalidSettingError);
  });
});

describe('cookieSecure', () => {
  it("'auto' (default): Secure behind a trusted TLS proxy, not over plain http", async () => {
    const { port } = await start({ xheaders: true, trustedProxies: [PROXY] });
    expect(secureByName(await get(port, PROXY, FORWARDED))).toEqual({
      plain: true,
      signed: true,
      forced: false,
      _xsrf: true,
    });
    expect(secureByName(await get(port, PROXY))).toEqual({
      plain: false,
      signed: false,
      forced: false,
      _xsrf: false,
    });
    // A stranger claiming https does not get Secure cookies it could not have asked for.
    expect(secureByName(await get(port, STRANGER, FORWARDED))['plain']).toBe(false);
  });

  // handleRequest on a node:https server: Node's (serve() of @gale/server/bun takes no TLS options).
  it.skipIf(isBun)("'auto': Secure when the request came over TLS to this server", async () => {
    const app = new Application(routes, {
      logger: recordingLogger(),
      cookieSecret: 'proxies test',
    });
    const server = createHttpsServer(
      { key: fixture('localhost-key.pem'), cert: fixture('localhost-cert.pem') },
      (req, res) => app.handleRequest(req, res),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.close(500);
    });
    const reply = await get((server.address() as AddressInfo).port, PROXY, {}, true);
    expect(reply.body.protocol).toBe('https');
    expect(secureByName(reply)).toEqual({ plain: true, signed: true, forced: false, _xsrf: true });
  });

  it('true and false override the protocol', async () => {
    const always = await start({ cookieSecure: true });
    expect(secureByName(await get(always.port, PROXY))['plain']).toBe(true);
    const never = await start({ cookieSecure: false, xheaders: true, trustedProxies: [PROXY] });
    expect(secureByName(await get(never.port, PROXY, FORWARDED))['plain']).toBe(false);
    expect(() => new Application(routes, { cookieSecure: 'yes' as unknown as boolean })).toThrow(
      InvalidSettingError,
    );
  });
});
