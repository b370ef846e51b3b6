import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, recordingLogger, until } from '@gale/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  Application,
  type ApplicationOptions,
  InvalidStateError,
  RequestHandler,
  type Route,
  WebSocketHandler,
} from '../src/index.js';
import { isBun, serve as listen } from './serve-runtime.js';

// listen() reads each connection's request head itself: WebSocket upgrades to WebSocket routes
// never meet node:http's parser; everything else is handed to node:http as it arrived. Under Bun
// the same requests go to serve() of @gale/server/bun, whose heads Bun's parser reads: what only
// listen() does is tested on Node (onNode), and where Bun's parser answers otherwise, the test
// says what Bun does (onBun; the README's "Running on Bun" lists it).
const onNode = it.skipIf(isBun);
const onBun = it.runIf(isBun);

const apps: Application[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close(500)));
});

/** How each upgrade reached the handler: `own` without an IncomingMessage, `node` with one. */
const paths: string[] = [];

class EchoHandler extends WebSocketHandler {
  override prepare(): void {
    try {
      void this.request.raw;
      paths.push('node');
    } catch (error) {
      paths.push(error instanceof InvalidStateError ? 'own' : String(error));
    }
  }
  override onMessage(message: string | Uint8Array): void {
    void this.writeMessage(message, { binary: typeof message !== 'string' });
  }
}

class HelloHandler extends RequestHandler {
  override get(): void {
    this.write(`hello ${this.request.query.get('n') ?? ''}`);
  }
}

class JsonEchoHandler extends RequestHandler {
  override async post(): Promise<void> {
    this.write({ received: await this.json() });
  }
}

const routes: Route[] = [
  ['/echo', EchoHandler],
  ['/hello', HelloHandler],
  ['/json', JsonEchoHandler],
];

async function serve(options: ApplicationOptions = {}) {
  const logger = recordingLogger();
  const app = new Application(routes, { logger, ...options });
  apps.push(app);
  const served = await listen(app);
  // node:http's 'upgrade' event fires only for upgrades that went through node:http (none on Bun).
  let nodeUpgrades = 0;
  served.server?.on('upgrade', () => nodeUpgrades++);
  return { ...served, logger, nodeUpgrades: () => nodeUpgrades };
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const UPGRADE =
  'GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n\r\n`;

/** A TCP client that keeps what it received and knows when the server closed. */
class RawClient {
  readonly socket: Socket;
  received = '';
  closed = false;
  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => {
      this.received += chunk.toString('latin1');
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
    });
  }
  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve) => this.socket.write(data, () => resolve()));
  }
  /** One write per byte, each flushed before the next, so that the server reads them apart. */
  async writeByteByByte(data: string): Promise<void> {
    for (const byte of Buffer.from(data, 'latin1')) {
      await this.write(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  async response(what = 'a response'): Promise<string> {
    await until(() => this.received.includes('\r\n\r\n'), what);
    return this.received;
  }
  async close(): Promise<void> {
    await until(() => this.closed, 'the server to close the connection');
  }
}

/** A masked client frame (RFC 6455 §5.3) with FIN set. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const mask = [1, 2, 3, 4];
  return Buffer.concat([
    Buffer.from([0x80 | opcode, 0x80 | payload.length, ...mask]),
    Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!)),
  ]);
}

async function expectFreshEcho(port: number): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`, { perMessageDeflate: false });
  const reply = await new Promise<string>((resolve, reject) => {
    ws.once('open', () => ws.send('still serving'));
    ws.once('message', (data: Buffer) => resolve(data.toString()));
    ws.once('error', reject);
  });
  expect(reply).toBe('still serving');
  ws.close();
}

function httpGet(path: string, keepAlive = true): string {
  return `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`;
}

describe('WebSocket upgrades read by listen()', () => {
  it('reach the handler without node:http: no IncomingMessage, no upgrade event', async () => {
    const { port, nodeUpgrades, logger } = await serve();
    paths.length = 0;
    await expectFreshEcho(port);
    expect(paths).toEqual(['own']);
    expect(nodeUpgrades()).toBe(0);
    // The access log still names the client.
    await until(() => logger.lines.some((l) => l.startsWith('101 ')), 'the access log line');
    expect(logger.lines.find((l) => l.startsWith('101 '))).toMatch(
      /^101 GET \/echo \(127\.0\.0\.1\) \d+\.\d{2}ms$/,
    );
  });

  it('take a head that arrives a byte at a time', async () => {
    const { port, nodeUpgrades } = await serve();
    paths.length = 0;
    const client = new RawClient(port);
    await client.writeByteByByte(UPGRADE);
    expect(await client.response()).toMatch(/^HTTP\/1\.1 101 /);
    expect(paths).toEqual(['own']);
    expect(nodeUpgrades()).toBe(0);
    client.socket.destroy();
  });

  it('hand the bytes after the head to the connection', async () => {
    const { port } = await serve();
    const client = new RawClient(port);
    await client.write(Buffer.concat([Buffer.from(UPGRADE), maskedFrame(0x1, Buffer.from('hi'))]));
    // The 101, then the echo of the frame that came with the head.
    await until(() => client.received.endsWith('\x81\x02hi'), 'the echo');
    expect(client.received).toMatch(/^HTTP\/1\.1 101 /);
    client.socket.destroy();
  });

  it('answer the handshake errors as before: 405, 400, 426', async () => {
    const { port } = await serve();
    const post = new RawClient(port);
    await post.write(UPGRADE.replace('GET', 'POST'));
    expect(await post.response()).toMatch(/^HTTP\/1\.1 405 /);
    const noKey = new RawClient(port);
    await noKey.write(UPGRADE.replace(`Sec-WebSocket-Key: ${KEY}\r\n`, ''));
    expect(await noKey.response()).toMatch(/^HTTP\/1\.1 400 /);
    const version = new RawClient(port);
    await version.write(UPGRADE.replace('Version: 13', 'Version: 8'));
    expect(await version.response()).toMatch(/^HTTP\/1\.1 426 /);
    await Promise.all([post.close(), noKey.close(), version.close()]);
    await expectFreshEcho(port);
  });

  // node:http's own upgrade path and its 'upgrade' event.
  onNode(
    'still reach node:http on a keep-alive connection that first carried an HTTP request',
    async () => {
      const { port, nodeUpgrades } = await serve();
      paths.length = 0;
      const client = new RawClient(port);
      await client.write(httpGet('/hello?n=1'));
      await until(() => client.received.endsWith('hello 1'), 'the HTTP response');
      client.received = '';
      await client.write(UPGRADE);
      expect(await client.response()).toMatch(/^HTTP\/1\.1 101 /);
      expect(paths).toEqual(['node']);
      expect(nodeUpgrades()).toBe(1);
      client.socket.destroy();
    },
  );
});

describe('requests handed to node:http', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'gale-own-upgrade-'));
    writeFileSync(join(root, 'app.js'), 'console.log(1);');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('serve HTTP routes, static files and 404s on one keep-alive connection', async () => {
    const { port } = await serve({ staticPath: root });
    const client = new RawClient(port);
    await client.write(httpGet('/hello?n=1'));
    await until(() => client.received.endsWith('hello 1'), 'the route');
    expect(client.received).toMatch(/^HTTP\/1\.1 200 /);
    client.received = '';
    await client.write(httpGet('/app.js'));
    await until(() => client.received.endsWith('console.log(1);'), 'the static file');
    client.received = '';
    await client.write(httpGet('/missing.js', false));
    await client.close();
    expect(client.received).toMatch(/^HTTP\/1\.1 404 /);
  });

  it('serve a request whose bytes arrive one at a time', async () => {
    const { port } = await serve();
    const client = new RawClient(port);
    await client.writeByteByByte(httpGet('/hello?n=2', false));
    await client.close();
    expect(client.received).toMatch(/^HTTP\/1\.1 200 [\s\S]*hello 2$/);
  });

  it('serve a POST whose head and body are split over chunks', async () => {
    const { port } = await serve();
    const client = new RawClient(port);
    const body = JSON.stringify({ a: 'b'.repeat(2000) });
    await client.write('POST /json HTTP/1.1\r\nHost: x\r\nContent-Ty');
    await client.write(
      `pe: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`,
    );
    await client.write(body.slice(10, 1000));
    await client.write(body.slice(1000));
    await client.close();
    expect(client.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(client.received).toContain(`{"received":${body}}`);
  });

  it('serve pipelined requests', async () => {
    const { port } = await serve();
    const client = new RawClient(port);
    await client.write(httpGet('/hello?n=1') + httpGet('/hello?n=2', false));
    await client.close();
    expect(client.received).toMatch(/hello 1HTTP\/1\.1 200 [\s\S]*hello 2$/);
  });

  it('answer a plain GET to a WebSocket route with 400, keeping the connection', async () => {
    const { port } = await serve();
    const client = new RawClient(port);
    await client.write(httpGet('/echo'));
    // The whole body (node:http sends it chunked, Bun with a Content-Length).
    await until(
      () => /\r\n0\r\n\r\n$|Content-Length: 34\r\n\r\n.{34}$/s.test(client.received),
      'the 400',
    );
    expect(client.received).toMatch(/^HTTP\/1\.1 400 [\s\S]*Can "Upgrade" only to "WebSocket"\./);
    client.received = '';
    await client.write(httpGet('/hello?n=3', false));
    await client.close();
    expect(client.received).toMatch(/hello 3$/);
  });

  // node:http's 'upgrade' event (the 404 itself is websocket.integration's, on both runtimes).
  onNode('answer an upgrade to another path with 404, through the upgrade event', async () => {
    const { port, nodeUpgrades } = await serve();
    const client = new RawClient(port);
    await client.write(UPGRADE.replace('/echo', '/nowhere'));
    expect(await client.response()).toMatch(/^HTTP\/1\.1 404 /);
    expect(nodeUpgrades()).toBe(1);
  });

  it('answer a request line the strict reader does not take as node:http does', async () => {
    const { port } = await serve();
    const junk = new RawClient(port);
    await junk.write('\x16\x03\x01\x00\x05hello\r\n\r\n');
    await junk.close();
    expect(junk.received).toMatch(/^HTTP\/1\.1 400 /);
    const old = new RawClient(port);
    await old.write('GET /hello?n=4 HTTP/1.0\r\n\r\n');
    await old.close();
    expect(old.received).toMatch(/hello 4$/);
    await expectFreshEcho(port);
  });
});

/** Resolves once the server has accepted `n` connections. */
async function untilConnections(server: Server, n: number): Promise<void> {
  let count = 0;
  await until(() => {
    server.getConnections((_error, current) => {
      count = current;
    });
    return count >= n;
  }, `${n} connections`);
}

describe('limits while a head is read', () => {
  async function expectRefused(port: number, bytes: string, status: number): Promise<void> {
    const client = new RawClient(port);
    await client.write(bytes);
    await client.close();
    expect(client.received).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(client.received).toMatch(/\r\nConnection: close\r\n/);
  }

  // maxHeaderSize is node:http's and listen()'s: Bun has its own limit (below).
  onNode('answers a head over maxHeaderSize with 431 and closes', async () => {
    const { port } = await serve({ maxHeaderSize: 1024 });
    await expectRefused(
      port,
      UPGRADE.replace('Host: x', `Host: x\r\nX-Big: ${'a'.repeat(2000)}`),
      431,
    );
    // Also when the blank line never comes.
    await expectRefused(port, `GET /echo HTTP/1.1\r\nX-Big: ${'a'.repeat(2000)}`, 431);
    await expectFreshEcho(port);
  });

  onBun('leaves the size of a head to Bun: maxHeaderSize does not apply', async () => {
    const { port } = await serve({ maxHeaderSize: 1024 });
    const client = new RawClient(port);
    await client.write(UPGRADE.replace('Host: x', `Host: x\r\nX-Big: ${'a'.repeat(2000)}`));
    expect(await client.response()).toMatch(/^HTTP\/1\.1 101 /);
    client.socket.destroy();
  });

  it.each([
    ['an obs-fold', UPGRADE.replace('Host: x\r\n', 'Host: x\r\n folded\r\n')],
    ['a bare LF', UPGRADE.replace('Host: x\r\n', 'Host: x\n')],
    ['a space before the colon', UPGRADE.replace('Host: x', 'Host : x')],
    ['a NUL in a value', UPGRADE.replace('Host: x', 'Host: x\0')],
  ])('answers a head with %s with 400 and closes', async (_what, head) => {
    const { port } = await serve();
    await expectRefused(port, head, 400);
    await expectFreshEcho(port);
  });

  const SECOND_HOST = UPGRADE.replace('Host: x', 'Host: x\r\nHost: y');

  // Bun's parser takes this head (below).
  onNode('answers a head with a second Host line with 400 and closes', async () => {
    const { port } = await serve();
    await expectRefused(port, SECOND_HOST, 400);
    await expectFreshEcho(port);
  });

  onBun('upgrades a head with a second Host line: Bun takes it', async () => {
    const { port } = await serve();
    const client = new RawClient(port);
    await client.write(SECOND_HOST);
    expect(await client.response()).toMatch(/^HTTP\/1\.1 101 /);
    client.socket.destroy();
  });

  // Bun closes such a connection without a response (below).
  onNode('answers a head cut short by the client with 400', async () => {
    const { port } = await serve();
    const client = new RawClient(port);
    await client.write('GET /echo HTTP/1.1\r\nHost: x\r\n');
    client.socket.end();
    await client.close();
    expect(client.received).toMatch(/^HTTP\/1\.1 400 /);
    await expectFreshEcho(port);
  });

  onBun('closes a head cut short by the client without a response', async () => {
    const { port } = await serve();
    const client = new RawClient(port);
    await client.write('GET /echo HTTP/1.1\r\nHost: x\r\n');
    client.socket.end();
    await client.close();
    expect(client.received).toBe('');
    await expectFreshEcho(port);
  });

  // handshakeTimeout is listen()'s (Bun times heads out itself), and node:http counts connections.
  onNode('drops a head not complete within handshakeTimeout, without a response', async () => {
    const clock = new ManualClock();
    const { port, server } = await serve({ clock, handshakeTimeout: 5 });
    const silent = new RawClient(port);
    const partial = new RawClient(port);
    await partial.write('GET /echo HTTP/1.1\r\nHost: x\r\n');
    await untilConnections(server!, 2);
    clock.advance(4999);
    await new Promise((resolve) => setImmediate(resolve));
    expect(silent.closed || partial.closed).toBe(false);
    clock.advance(1);
    await Promise.all([silent.close(), partial.close()]);
    expect(silent.received + partial.received).toBe('');
    await expectFreshEcho(port);
  });

  onNode('drops a head sent a byte at a time (slowloris) at the same deadline', async () => {
    const clock = new ManualClock();
    const { port, server } = await serve({ clock, handshakeTimeout: 5 });
    const client = new RawClient(port);
    await untilConnections(server!, 1);
    for (const byte of 'GET /echo HTTP/1.1\r\nHost') {
      await client.write(byte);
      clock.advance(100);
    }
    expect(client.closed).toBe(false);
    clock.advance(5000 - 100 * 24);
    await client.close();
    expect(client.received).toBe('');
    await expectFreshEcho(port);
  });

  it('destroys connections still being read when the application closes', async () => {
    const { port, app, server } = await serve();
    const client = new RawClient(port);
    await client.write('GET /echo HTTP/1.1\r\n');
    // Bun counts no connections; the head has gone out, and close() ends whatever Bun holds.
    if (server !== undefined) await untilConnections(server, 1);
    await app.close(100);
    await client.close();
    expect(client.received).toBe('');
  });
});
