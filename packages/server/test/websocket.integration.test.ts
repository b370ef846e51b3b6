import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { Inbox, ManualClock, recordingLogger, until } from '@gale/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import {
  Application,
  type ApplicationOptions,
  HTTPError,
  type Route,
  WebSocketClosedError,
  WebSocketHandler,
} from '../src/index.js';
import { isBun, serve as listen } from './serve-runtime.js';

// The behaviours of tornado/test/websocket_test.py, against gale handlers and the ws client.

const apps: Application[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close(500)));
});

async function serve(routes: Route[], options: ApplicationOptions = {}) {
  const logger = recordingLogger();
  const app = new Application(routes, { logger, ...options });
  apps.push(app);
  const { port, ws } = await listen(app);
  return { app, port, logger, url: ws };
}

// Messages are queued from the moment a client exists: one the server writes in open() can arrive
// in the same read as the 101, before a test could attach a listener.
const inboxes = new WeakMap<WebSocket, Inbox<string | Buffer>>();

function client(
  url: string,
  options: WebSocket.ClientOptions = {},
  protocols?: string[],
): WebSocket {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options });
  const inbox = new Inbox<string | Buffer>();
  inboxes.set(ws, inbox);
  ws.on('message', (data: Buffer, isBinary: boolean) =>
    inbox.push(isBinary ? data : data.toString()),
  );
  return ws;
}

function open(
  url: string,
  options: WebSocket.ClientOptions = {},
  protocols?: string[],
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = client(url, options, protocols);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
  });
}

function statusOf(url: string, options: WebSocket.ClientOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<string | Buffer> {
  return inboxes.get(ws)!.next();
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

// Raw HTTP so that headers can be exactly what a test needs.
function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
    });
    socket.on('end', () => resolve(data));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
}

class EchoHandler extends WebSocketHandler {
  override onMessage(message: string | Uint8Array): void {
    void this.writeMessage(message, { binary: typeof message !== 'string' });
  }
}

describe('handshake', () => {
  it('answers a plain GET to a WebSocket route with 400 and a POST with 405', async () => {
    const { port } = await serve([['/echo', EchoHandler]]);
    const get = await fetch(`http://127.0.0.1:${port}/echo`);
    expect(get.status).toBe(400);
    expect(await get.text()).toBe('Can "Upgrade" only to "WebSocket".');
    const post = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
  });

  it('refuses a missing key with 400 and a bad version with 426 and Sec-WebSocket-Version: 13', async () => {
    const { port } = await serve([['/echo', EchoHandler]]);
    const base = 'GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';
    const missingKey = await rawRequest(port, `${base}Sec-WebSocket-Version: 13\r\n\r\n`);
    expect(missingKey.startsWith('HTTP/1.1 400')).toBe(true);
    const badVersion = await rawRequest(
      port,
      `${base}Sec-WebSocket-Version: 12\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    expect(badVersion.startsWith('HTTP/1.1 426')).toBe(true);
    expect(badVersion).toMatch(/sec-websocket-version: 13\r\n/i);
  });

  it('refuses a POST upgrade with 405', async () => {
    const { port } = await serve([['/echo', EchoHandler]]);
    const response = await rawRequest(
      port,
      'POST /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 0\r\n\r\n',
    );
    expect(response.startsWith('HTTP/1.1 405')).toBe(true);
  });

  it('closes the connection after refusing an upgrade: a request behind it gets no answer', async () => {
    const { port } = await serve([['/echo', EchoHandler]]);
    const refused =
      'GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Version: 12\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
    const response = await rawRequest(port, `${refused}GET /echo HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(response).toMatch(/^HTTP\/1\.1 426 /);
    expect(response).toMatch(/\r\nconnection: close\r\n/i);
    expect(response.match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });

  it('answers 404 to an upgrade no route matches', async () => {
    const { url } = await serve([['/echo', EchoHandler]]);
    expect(await statusOf(url('/nowhere'))).toBe(404);
  });

  it('puts headers set in prepare() on the 101', async () => {
    class HeaderHandler extends EchoHandler {
      override prepare(): void {
        this.setHeader('X-Extra-Response-Header', 'Extra-Response-Value');
      }
    }
    const { url } = await serve([['/h', HeaderHandler]]);
    const headers = await new Promise<Record<string, unknown>>((resolve) => {
      const ws = new WebSocket(url('/h'));
      ws.once('upgrade', (res) => resolve(res.headers));
      ws.once('open', () => ws.close());
    });
    expect(headers['x-extra-response-header']).toBe('Extra-Response-Value');
  });

  it('answers an HTTPError thrown in an async prepare() with its status and no upgrade', async () => {
    class AuthHandler extends EchoHandler {
      override async prepare(): Promise<void> {
        await Promise.resolve();
        throw new HTTPError(401, 'login first');
      }
    }
    const { url } = await serve([['/auth', AuthHandler]]);
    expect(await statusOf(url('/auth'))).toBe(401);
  });
});

// attach() is Node's: it serves on a node:http Server (Bun's serve() has its own).
describe.skipIf(isBun)('attach', () => {
  it('serves its routes on an existing server and leaves other upgrades to their listener', async () => {
    // As Vite's dev server: another upgrade listener (here a ws server on /other) shares the server.
    const server = createServer();
    const app = new Application([['/echo', EchoHandler]], { logger: recordingLogger() });
    app.attach(server);
    apps.push(app);
    // Registered after attach(): gale's listener has already seen the upgrade and must have left
    // the socket alone.
    const other = new WebSocketServer({ noServer: true });
    other.on('connection', (ws) => ws.on('message', (data) => ws.send(`other: ${data}`)));
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/other')
        other.handleUpgrade(req, socket, head, (ws) => other.emit('connection', ws));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    const foreign = await open(`ws://127.0.0.1:${port}/other`);
    foreign.send('hello');
    expect(await nextMessage(foreign)).toBe('other: hello');
    const ours = await open(`ws://127.0.0.1:${port}/echo`);
    ours.send('to gale');
    expect(await nextMessage(ours)).toBe('to gale');
    foreign.close();
    ours.close();
    other.close();
  });
});

describe('origin', () => {
  it('accepts its own origin with and without a path, and no Origin header', async () => {
    const { url, port } = await serve([['/echo', EchoHandler]]);
    expect(await statusOf(url('/echo'), { origin: `http://127.0.0.1:${port}` })).toBe(101);
    expect(await statusOf(url('/echo'), { origin: `http://127.0.0.1:${port}/something` })).toBe(
      101,
    );
    expect(await statusOf(url('/echo'))).toBe(101);
  });

  it('refuses an origin without a scheme, another host, and a subdomain with 403', async () => {
    const { url, port } = await serve([['/echo', EchoHandler]]);
    expect(await statusOf(url('/echo'), { origin: `127.0.0.1:${port}` })).toBe(403);
    expect(await statusOf(url('/echo'), { origin: 'http://somewhereelse.com' })).toBe(403);
    expect(await statusOf(url('/echo'), { origin: 'http://subtenant.localhost' })).toBe(403);
  });

  it('accepts an origin listed in allowedOrigins', async () => {
    const { url } = await serve([['/echo', EchoHandler]], {
      allowedOrigins: ['https://app.example'],
    });
    expect(await statusOf(url('/echo'), { origin: 'https://app.example' })).toBe(101);
  });
});

describe('messages', () => {
  it('echoes binary and unicode messages exactly', async () => {
    const { url } = await serve([['/echo', EchoHandler]]);
    const ws = await open(url('/echo'));
    ws.send('hello ☃ 😀');
    expect(await nextMessage(ws)).toBe('hello ☃ 😀');
    ws.send(Buffer.from([0, 255, 1, 254]));
    expect(await nextMessage(ws)).toEqual(Buffer.from([0, 255, 1, 254]));
    ws.close();
  });

  it('passes path arguments to open()', async () => {
    class PathArgs extends WebSocketHandler {
      override open(...args: string[]): void {
        void this.writeMessage(args.join(','));
      }
    }
    const { url } = await serve([['/path_args/(.*)/(\\d+)', PathArgs]]);
    const ws = await open(url('/path_args/hello%20there/42'));
    expect(await nextMessage(ws)).toBe('hello there,42');
    ws.close();
  });

  it('waits for an async open() before the first onMessage', async () => {
    class AsyncOpen extends WebSocketHandler {
      #opened = false;
      override async open(): Promise<void> {
        await new Promise((r) => setTimeout(r, 50));
        this.#opened = true;
      }
      override onMessage(): void {
        void this.writeMessage(this.#opened ? 'opened' : 'not opened');
      }
    }
    const { url } = await serve([['/async_open', AsyncOpen]]);
    const ws = client(url('/async_open'));
    ws.once('open', () => ws.send('message'));
    expect(await nextMessage(ws)).toBe('opened');
    ws.close();
  });

  it('runs an async onMessage to completion before the next message', async () => {
    class Ordered extends WebSocketHandler {
      override async onMessage(message: string | Uint8Array): Promise<void> {
        // The first message waits longest: with overlap, replies would come out of order.
        await new Promise((r) => setTimeout(r, message === '0' ? 60 : 1));
        await this.writeMessage(`reply ${String(message)}`);
      }
    }
    const { url } = await serve([['/ordered', Ordered]]);
    const ws = await open(url('/ordered'));
    const replies: string[] = [];
    const done = new Promise<void>((resolve) =>
      ws.on('message', (d) => {
        replies.push(d.toString());
        if (replies.length === 5) resolve();
      }),
    );
    for (let i = 0; i < 5; i++) ws.send(String(i));
    await done;
    expect(replies).toEqual(['reply 0', 'reply 1', 'reply 2', 'reply 3', 'reply 4']);
    ws.close();
  });

  it('sends an object as JSON text', async () => {
    class Json extends WebSocketHandler {
      override open(): void {
        void this.writeMessage({ inventoryCount: 3 });
      }
    }
    const { url } = await serve([['/json', Json]]);
    const ws = await open(url('/json'));
    expect(JSON.parse((await nextMessage(ws)) as string)).toEqual({ inventoryCount: 3 });
    ws.close();
  });
});

describe('subprotocols', () => {
  class Sub extends WebSocketHandler {
    calls: Array<readonly string[]> = [];
    override selectSubprotocol(subprotocols: readonly string[]): string | null {
      this.calls.push(subprotocols);
      return subprotocols.includes('goodproto') ? 'goodproto' : null;
    }
    override open(): void {
      void this.writeMessage(
        `subprotocol=${this.selectedSubprotocol} calls=${JSON.stringify(this.calls)}`,
      );
    }
  }

  it('selects an offered subprotocol, calling selectSubprotocol exactly once', async () => {
    const { url } = await serve([['/sub', Sub]]);
    const ws = await open(url('/sub'), {}, ['badproto', 'goodproto']);
    expect(ws.protocol).toBe('goodproto');
    expect(await nextMessage(ws)).toBe('subprotocol=goodproto calls=[["badproto","goodproto"]]');
    ws.close();
  });

  it('calls selectSubprotocol with [] when none was offered', async () => {
    const { url } = await serve([['/sub', Sub]]);
    const ws = await open(url('/sub'));
    expect(ws.protocol).toBe('');
    expect(await nextMessage(ws)).toBe('subprotocol=null calls=[[]]');
    ws.close();
  });

  it('answers 500 when selectSubprotocol returns one that was not offered', async () => {
    class Bad extends WebSocketHandler {
      override selectSubprotocol(): string {
        return 'invented';
      }
    }
    const { url } = await serve([['/bad', Bad]]);
    expect(await statusOf(url('/bad'))).toBe(500);
  });
});

describe('errors', () => {
  it('fails only the connection with 1011 when open() throws, and keeps serving', async () => {
    class OpenError extends WebSocketHandler {
      override open(): void {
        throw new Error('open failed');
      }
    }
    const { url, logger } = await serve([
      ['/open_error', OpenError],
      ['/echo', EchoHandler],
    ]);
    const ws = await open(url('/open_error'));
    expect((await closed(ws)).code).toBe(1011);
    expect(logger.errors.some((e) => e instanceof Error && e.message === 'open failed')).toBe(true);
    const fresh = await open(url('/echo'));
    fresh.send('still here');
    expect(await nextMessage(fresh)).toBe('still here');
    fresh.close();
  });

  it('fails only the connection with 1011 when onMessage throws or rejects', async () => {
    class MessageError extends WebSocketHandler {
      override async onMessage(message: string | Uint8Array): Promise<void> {
        if (message === 'reject') throw new Error('async failure');
        throw new Error('never reached');
      }
    }
    const { url, logger } = await serve([['/message_error', MessageError]]);
    const ws = await open(url('/message_error'));
    ws.send('reject');
    expect((await closed(ws)).code).toBe(1011);
    expect(
      logger.lines.some((l) => l.includes('Uncaught exception in MessageError.onMessage')),
    ).toBe(true);
  });

  it('throws WebSocketClosedError from writeMessage after close, and calls onClose once', async () => {
    let error: unknown;
    let closes = 0;
    class WriteAfterClose extends WebSocketHandler {
      override onMessage(): void {
        this.close(1000);
        try {
          void this.writeMessage('late');
        } catch (e) {
          error = e;
        }
      }
      override onClose(): void {
        closes++;
      }
    }
    const { url } = await serve([['/wac', WriteAfterClose]]);
    const ws = await open(url('/wac'));
    ws.send('go');
    await closed(ws);
    await new Promise((r) => setTimeout(r, 20));
    expect(error).toBeInstanceOf(WebSocketClosedError);
    expect(closes).toBe(1);
  });
});

describe('closing', () => {
  it('reports the code and reason the client sent, and echoes the code', async () => {
    let seen: [number | null, string | null] = [null, null];
    class Closing extends WebSocketHandler {
      override onClose(): void {
        seen = [this.closeCode, this.closeReason];
      }
    }
    const { url } = await serve([['/close', Closing]]);
    const ws = await open(url('/close'));
    const done = closed(ws);
    ws.close(1001, 'goodbye');
    expect((await done).code).toBe(1001);
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([1001, 'goodbye']);
  });

  it('sends the code and reason the server closes with', async () => {
    class ServerClose extends WebSocketHandler {
      override open(): void {
        this.close(1001, 'goodbye');
      }
    }
    const { url } = await serve([['/server_close', ServerClose]]);
    const ws = await open(url('/server_close'));
    expect(await closed(ws)).toEqual({ code: 1001, reason: 'goodbye' });
  });

  it('closes with 1000 when only a reason is given', async () => {
    class ReasonOnly extends WebSocketHandler {
      override open(): void {
        this.close(undefined, 'just a reason');
      }
    }
    const { url } = await serve([['/reason', ReasonOnly]]);
    const ws = await open(url('/reason'));
    expect(await closed(ws)).toEqual({ code: 1000, reason: 'just a reason' });
  });

  it('sends 1001 "going away" to every connection on Application.close()', async () => {
    const { app, url } = await serve([['/echo', EchoHandler]]);
    const clients = await Promise.all([open(url('/echo')), open(url('/echo'))]);
    const results = clients.map(closed);
    await app.close(2000);
    for (const result of await Promise.all(results))
      expect(result).toEqual({ code: 1001, reason: 'going away' });
  });

  it('closes TCP as soon as both Close frames have passed, without waiting for the client', async () => {
    // RFC 6455 §7.1.1: the server closes the TCP connection first. A client that keeps its side
    // open (allowHalfOpen) must still get the whole Close frame, then EOF, and the handler's
    // onClose must run now, not when the close timeout (an hour here) runs out.
    let handlerClosed!: (code: number | null) => void;
    const onCloseRan = new Promise<number | null>((resolve) => {
      handlerClosed = resolve;
    });
    class Recording extends WebSocketHandler {
      override onClose(): void {
        handlerClosed(this.closeCode);
      }
    }
    const { port } = await serve([['/close', Recording]], { websocketCloseTimeout: 3600 });
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => {});
    socket.write(
      'GET /close HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    let received = Buffer.alloc(0);
    const ended = new Promise<void>((resolve) => socket.on('end', () => resolve()));
    let sentClose = false;
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const head = received.indexOf('\r\n\r\n');
      if (!sentClose && head >= 0) {
        sentClose = true;
        received = received.subarray(head + 4);
        // A masked Close frame with code 1000, masking key 0.
        socket.write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
      }
    });
    expect(await onCloseRan).toBe(1000);
    await ended;
    expect([...received]).toEqual([0x88, 0x02, 0x03, 0xe8]);
    expect(socket.writableEnded).toBe(false); // the client never closed its side
    socket.destroy();
  });

  it('Application.close() also ends upgrades still waiting in an async prepare()', async () => {
    let entered!: () => void;
    const inPrepare = new Promise<void>((resolve) => {
      entered = resolve;
    });
    class Stalled extends WebSocketHandler {
      override prepare(): Promise<void> {
        entered();
        return new Promise(() => {}); // never settles
      }
    }
    const { app, port } = await serve([['/stalled', Stalled]]);
    const socket = connect(port, '127.0.0.1');
    socket.write(
      'GET /stalled HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const socketClosed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    await inPrepare;
    // Before the fix this never settled: node:http no longer tracks an upgraded socket.
    await app.close(200);
    await socketClosed;
    expect(socket.destroyed).toBe(true);
  });
});

describe('compression', () => {
  class Compressed extends EchoHandler {
    override getCompressionOptions(): object {
      return {};
    }
  }

  it('negotiates permessage-deflate when the handler enables it, and echoes through it', async () => {
    const { url } = await serve([['/compressed', Compressed]]);
    const ws = await open(url('/compressed'), { perMessageDeflate: { threshold: 0 } });
    expect(ws.extensions).toBe('permessage-deflate');
    const big = 'compressible '.repeat(10_000);
    ws.send(big);
    expect(await nextMessage(ws)).toBe(big);
    ws.close();
  });

  it('declines permessage-deflate by default', async () => {
    const { url } = await serve([['/echo', EchoHandler]]);
    const ws = await open(url('/echo'), { perMessageDeflate: {} });
    expect(ws.extensions).toBe('');
    ws.send('plain');
    expect(await nextMessage(ws)).toBe('plain');
    ws.close();
  });
});

describe('limits', () => {
  it('closes with 1009 when a message exceeds websocketMaxMessageSize', async () => {
    const { url } = await serve([['/echo', EchoHandler]], { websocketMaxMessageSize: 1024 });
    const ws = await open(url('/echo'));
    ws.send('x'.repeat(1024));
    expect(await nextMessage(ws)).toBe('x'.repeat(1024));
    ws.send('x'.repeat(1025));
    expect((await closed(ws)).code).toBe(1009);
  });

  it('sends a message far larger than websocketMaxBufferedAmount to a client that reads: a large message is not a slow consumer', async () => {
    const size = 12 * 1024 * 1024;
    class Big extends WebSocketHandler {
      override open(): void {
        void this.writeMessage(new Uint8Array(size).fill(7));
      }
    }
    const { url, logger } = await serve([['/big', Big]], {
      websocketMaxBufferedAmount: 1024 * 1024,
      websocketMaxMessageSize: 16 * 1024 * 1024,
    });
    const ws = await open(url('/big'));
    const message = (await nextMessage(ws)) as Buffer;
    expect(message.length).toBe(size);
    expect(message.every((byte) => byte === 7)).toBe(true);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(logger.lines.filter((line) => line.includes('slow consumer'))).toEqual([]);
  });

  it('drops a client that reads nothing for websocketDrainTimeout once over the limit, rejecting writeMessage; an ignored one does not crash', async () => {
    // 16 MiB to a client that never reads: more than loopback buffers hold, so bytes stay queued
    // in Node. The drain watch (stepped by the clock) finds that none left and drops the peer.
    const clock = new ManualClock();
    let outcome!: Promise<unknown>;
    let opened!: () => void;
    const isOpen = new Promise<void>((resolve) => {
      opened = resolve;
    });
    class Flooding extends WebSocketHandler {
      override open(): void {
        void this.writeMessage('ignored');
        outcome = this.writeMessage(new Uint8Array(16 * 1024 * 1024)).then(
          () => 'resolved',
          (error: unknown) => error,
        );
        opened();
      }
    }
    const { app, port, logger } = await serve([['/flood', Flooding]], {
      clock,
      websocketMaxBufferedAmount: 1024 * 1024,
      websocketMaxMessageSize: 64 * 1024 * 1024,
    });
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(
      'GET /flood HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    socket.once('data', () => socket.pause()); // reads the 101 (and a little more), then stops
    await isOpen;
    await until(() => app.connectionCount === 1, 'the connection');
    // Just short of the timeout nothing happens; the kernel may still take bytes in the first
    // window, so the drop comes at the end of the first window in which none left.
    clock.advance(9_999);
    expect(app.connectionCount).toBe(1);
    for (let window = 0; window < 3 && app.connectionCount === 1; window++) {
      clock.advance(10_000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await until(() => app.connectionCount === 0, 'the slow consumer dropped');
    expect(await outcome).toBeInstanceOf(WebSocketClosedError);
    expect(logger.lines.some((line) => line.includes('closing a slow consumer'))).toBe(true);
    socket.destroy();
    // Vitest fails the run on an unhandled rejection: the ignored promise must not cause one.
    await new Promise((resolve) => setImmediate(resolve));
  });

  it('rejects writeMessage when the client resets the connection while the write is in flight', async () => {
    // 16 MiB each, to a client that never reads: more than loopback buffers hold, so the writes
    // are still under way in Node when the reset comes. Node reports such a cancelled write as a
    // success; writeMessage must not.
    let outcomes!: (settled: PromiseSettledResult<void>[]) => void;
    const settled = new Promise<PromiseSettledResult<void>[]>((resolve) => {
      outcomes = resolve;
    });
    let opened!: () => void;
    const isOpen = new Promise<void>((resolve) => {
      opened = resolve;
    });
    class Big extends WebSocketHandler {
      override open(): void {
        const big = new Uint8Array(16 * 1024 * 1024);
        void Promise.allSettled([this.writeMessage(big), this.writeMessage(big)]).then(outcomes);
        opened();
      }
    }
    const { port } = await serve([['/big', Big]], {
      websocketMaxBufferedAmount: 64 * 1024 * 1024,
    });
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(
      'GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    socket.once('data', () => socket.pause()); // reads the 101 (and a little more), then stops
    await isOpen;
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.resetAndDestroy();
    const results = await settled;
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    for (const result of results) {
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(WebSocketClosedError);
    }
  });
});

describe('pings', () => {
  it('answers a client ping with a pong and reports it to onPing', async () => {
    let pinged = '';
    class Pinged extends EchoHandler {
      override onPing(data: Uint8Array): void {
        pinged = Buffer.from(data).toString();
      }
    }
    const { url } = await serve([['/ping', Pinged]]);
    const ws = await open(url('/ping'));
    const pong = new Promise<string>((resolve) => ws.once('pong', (d) => resolve(d.toString())));
    ws.ping('hello');
    expect(await pong).toBe('hello');
    expect(pinged).toBe('hello');
    ws.close();
  });

  it('sends a server ping and reports the pong to onPong', async () => {
    class Pinger extends WebSocketHandler {
      override open(): void {
        this.ping('data');
      }
      override onPong(data: Uint8Array): void {
        void this.writeMessage(`got pong ${Buffer.from(data).toString()}`);
      }
    }
    const { url } = await serve([['/pinger', Pinger]]);
    const ws = await open(url('/pinger'));
    expect(await nextMessage(ws)).toBe('got pong data');
    ws.close();
  });

  it('refuses a ping over 125 bytes', async () => {
    let error: unknown;
    class BigPing extends WebSocketHandler {
      override open(): void {
        try {
          this.ping('x'.repeat(126));
        } catch (e) {
          error = e;
        }
        void this.writeMessage('done');
      }
    }
    const { url } = await serve([['/bigping', BigPing]]);
    const ws = await open(url('/bigping'));
    await nextMessage(ws);
    expect((error as Error).name).toBe('InvalidArgumentError');
    ws.close();
  });

  it('pings periodically, and closes with 1000 "ping timed out" when no pong comes', async () => {
    const { url } = await serve([['/echo', EchoHandler]], {
      websocketPingInterval: 0.05,
      websocketPingTimeout: 0.05,
    });
    // autoPong off: this client never answers.
    const ws = await open(url('/echo'), { autoPong: false });
    let pings = 0;
    ws.on('ping', () => pings++);
    expect(await closed(ws)).toEqual({ code: 1000, reason: 'ping timed out' });
    expect(pings).toBeGreaterThanOrEqual(1);
  });

  it('keeps a connection that answers pings open', async () => {
    const { url } = await serve([['/echo', EchoHandler]], {
      websocketPingInterval: 0.03,
      websocketPingTimeout: 0.03,
    });
    const ws = await open(url('/echo'));
    let pings = 0;
    await new Promise<void>((resolve) =>
      ws.on('ping', () => {
        if (++pings === 4) resolve();
      }),
    );
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  it('refuses a ping timeout longer than the interval', () => {
    expect(
      () => new Application([], { websocketPingInterval: 1, websocketPingTimeout: 2 }),
    ).toThrow(/websocketPingTimeout/);
  });
});
