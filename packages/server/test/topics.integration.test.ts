import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { setImmediate as nextLoop } from 'node:timers/promises';
import { recordingLogger, until } from '@gale/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  Application,
  type ApplicationOptions,
  silentLogger,
  WebSocketHandler,
} from '../src/index.js';
import { isBun, serve as listen } from './serve-runtime.js';

const apps: Application[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close(500)));
});

class Subscriber extends WebSocketHandler {
  override open(): void {
    this.subscribe('news');
  }
  override onMessage(message: string | Uint8Array): void {
    if (message === 'shout') this.application.publish('news', 'from a peer', { exclude: this });
  }
}

async function serve(options: ApplicationOptions = {}) {
  const app = new Application([['/news', Subscriber]], { logger: silentLogger, ...options });
  apps.push(app);
  return listen(app);
}

function reader(port: number): Promise<{ ws: WebSocket; received: Array<string | Buffer> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/news`);
    const received: Array<string | Buffer> = [];
    ws.on('message', (data: Buffer, isBinary) => received.push(isBinary ? data : data.toString()));
    ws.once('open', () => resolve({ ws, received }));
    ws.once('error', reject);
  });
}

describe('topics', () => {
  it('delivers a published message to every subscriber, text, bytes and JSON', async () => {
    const { app, port } = await serve();
    const clients = await Promise.all([reader(port), reader(port), reader(port)]);
    await until(() => app.connectionCount === 3, 'three subscribers');
    app.publish('news', 'hello');
    app.publish('news', new Uint8Array([1, 2, 3]));
    app.publish('news', { inventoryCount: 4 });
    await until(() => clients.every((c) => c.received.length === 3), 'three messages each');
    for (const { received } of clients) {
      expect(received[0]).toBe('hello');
      expect(received[1]).toEqual(Buffer.from([1, 2, 3]));
      expect(JSON.parse(received[2] as string)).toEqual({ inventoryCount: 4 });
    }
  });

  it('leaves out the excluded publisher, and unsubscribes a connection when it closes', async () => {
    const { app, port } = await serve();
    const [a, b, c] = await Promise.all([reader(port), reader(port), reader(port)]);
    await until(() => app.connectionCount === 3, 'three subscribers');
    a!.ws.send('shout');
    await until(() => b!.received.length === 1 && c!.received.length === 1, 'the shout');
    expect(a!.received).toEqual([]);
    c!.ws.close();
    await until(() => app.connectionCount === 2, 'the close');
    app.publish('news', 'after');
    await until(() => a!.received.length === 1 && b!.received.length === 2, 'the next message');
    expect(c!.received).toEqual(['from a peer']);
  });
});

describe('topic listeners', () => {
  // A handler that listens to 'events' (its socket does not subscribe) and echoes what it heard.
  const heard: Array<string | Uint8Array> = [];
  class Listening extends WebSocketHandler {
    override open(): void {
      this.subscribe('events', (message) => {
        heard.push(message);
        if (message === 'throw') throw new Error('listener failed');
        if (message === 'logout') this.close(4001, 'Logged out');
      });
    }
  }

  async function listening() {
    heard.length = 0;
    const logger = recordingLogger();
    const app = new Application([['/events', Listening]], { logger, accessLog: false });
    apps.push(app);
    const ws = new WebSocket((await listen(app)).ws('/events'));
    const received: Array<string | Buffer> = [];
    ws.on('message', (data: Buffer, isBinary) => received.push(isBinary ? data : data.toString()));
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    await new Promise((resolve) => ws.once('open', resolve));
    await until(() => app.connectionCount === 1, 'the connection');
    return { app, ws, received, closed, logger };
  }

  it('hands a listener each message (objects as JSON text) instead of writing it to the socket', async () => {
    const { app, received } = await listening();
    app.publish('events', 'hello');
    app.publish('events', new Uint8Array([1, 2]));
    app.publish('events', { type: 'joined' });
    expect(heard).toEqual(['hello', new Uint8Array([1, 2]), '{"type":"joined"}']);
    await nextLoop();
    expect(received).toEqual([]);
  });

  it('lets a listener close its connection, and ends the subscription with it', async () => {
    const { app, closed } = await listening();
    app.publish('events', 'logout');
    expect(await closed).toEqual({ code: 4001, reason: 'Logged out' });
    await until(() => app.connectionCount === 0, 'the close');
    app.publish('events', 'after the close');
    expect(heard).toEqual(['logout']);
  });

  it('logs a listener that throws and fails only its connection with 1011', async () => {
    const { app, closed, logger } = await listening();
    app.publish('events', 'throw');
    expect((await closed).code).toBe(1011);
    const errors = logger.records.filter(({ level }) => level === 'error');
    expect(errors.some(({ message }) => message.includes('topic listener (events)'))).toBe(true);
    await until(() => app.connectionCount === 0, 'the close');
  });
});

/** `n` clients that upgrade to /news, then never read another byte. */
function stalledClients(port: number, n: number): Promise<Socket[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1', () =>
            socket.write(
              `GET /news HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
                'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
            ),
          );
          socket.once('data', () => {
            socket.pause();
            resolve(socket);
          });
          socket.on('error', () => {});
          socket.once('error', reject);
        }),
    ),
  );
}

describe('slow consumers', () => {
  const onNode = it.skipIf(isBun);
  const limit = 512 * 1024;

  it('closes clients that never read, while the others receive every message', async () => {
    // A stalled client is dropped once its queue outgrows the limit plus one message (of at most
    // websocketMaxMessageSize): small messages keep that within a few dozen publishes. On Bun, which
    // publishes a topic's messages natively, out of the policy's sight, Bun's own backpressure limit
    // (the limit, twice websocketMaxMessageSize and 1 MiB) closes it, a few hundred publishes on.
    const { app, port } = await serve({
      websocketMaxBufferedAmount: limit,
      websocketMaxMessageSize: 64 * 1024,
    });
    const readers = await Promise.all([reader(port), reader(port), reader(port)]);
    const stalled = await stalledClients(port, 100);
    await until(() => app.connectionCount === 103, 'every connection');
    const payload = Buffer.alloc(16 * 1024, 'x');
    let published = 0;
    // Publish, yielding to the event loop between messages so readers can keep up, until the
    // policy has closed every stalled client (bounded: 4,000 messages, 64 MB per reader).
    while (app.connectionCount > 3 && published < 4_000) {
      app.publish('news', payload);
      published++;
      await nextLoop();
    }
    expect(app.connectionCount).toBe(3);
    await until(() => readers.every((r) => r.received.length === published), 'every message');
    for (const r of readers) expect(r.ws.readyState).toBe(WebSocket.OPEN);
    for (const socket of stalled) socket.destroy();
  });

  // Counts node:stream's writes on node:http's upgraded sockets (Bun's are uWebSockets').
  onNode(
    'batches what handlers send in one turn of the event loop into one write per socket',
    async () => {
      class Burst extends WebSocketHandler {
        override open(): void {
          this.subscribe('all');
        }
        override onMessage(message: string | Uint8Array): void {
          if (message !== 'burst') return;
          void this.writeMessage('a');
          void this.writeMessage('b');
          this.application.publish('all', 'c');
        }
      }
      const app = new Application([['/burst', Burst]], { logger: silentLogger });
      apps.push(app);
      const server = createServer();
      // Counts the socket-level writes (node:stream's _write/_writev) on each upgraded socket.
      type Counted = Socket & { writes: number };
      const sockets: Counted[] = [];
      server.on('upgrade', (_req, raw: Socket) => {
        const socket = raw as Counted & {
          _write: (...args: unknown[]) => void;
          _writev?: (...args: unknown[]) => void;
        };
        socket.writes = 0;
        const write = socket._write;
        const writev = socket._writev;
        socket._write = function (this: Socket, ...args: unknown[]) {
          socket.writes++;
          return write.apply(this, args);
        };
        if (writev) {
          socket._writev = function (this: Socket, ...args: unknown[]) {
            socket.writes++;
            return writev.apply(this, args);
          };
        }
        sockets.push(socket);
      });
      app.attach(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const open = (): Promise<{ ws: WebSocket; received: string[] }> =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/burst`);
          const received: string[] = [];
          ws.on('message', (data: Buffer) => received.push(data.toString()));
          ws.once('open', () => resolve({ ws, received }));
          ws.once('error', reject);
        });
      try {
        const a = await open();
        const b = await open();
        await until(() => app.connectionCount === 2, 'two connections');
        for (const socket of sockets) socket.writes = 0; // the 101 responses
        a.ws.send('burst');
        await until(() => a.received.length === 3 && b.received.length === 1, 'every message');
        expect(a.received).toEqual(['a', 'b', 'c']);
        expect(b.received).toEqual(['c']);
        // Three frames to A and one to B, each socket's in a single write.
        expect(sockets.map((socket) => socket.writes)).toEqual([1, 1]);
        a.ws.close();
        b.ws.close();
      } finally {
        await app.close(500);
        server.close();
      }
    },
  );
});
