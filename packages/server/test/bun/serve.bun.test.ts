// @gale/server/bun: the same Application on Bun.serve's native WebSocket server, over real
// sockets. Runs under Bun only (`pnpm test:bun`: Vitest started by Bun, vitest.bun.config.ts).

import type { DeflateOptions } from '@gale/frame';
import { encodeHello, parseServerMessage } from '@gale/frame/resume';
import { ManualClock, recordingLogger, until } from '@gale/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serve } from '../../src/bun.js';
import {
  Application,
  type ApplicationOptions,
  HTTPError,
  MemoryBroker,
  RequestHandler,
  type Route,
  WebSocketClosedError,
  WebSocketHandler,
} from '../../src/index.js';
import { connect, nextClose, nextMessage, type RawClient } from './raw-client.js';

const apps: Application[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close({ timeoutMs: 1000 })));
});

function start(
  routes: readonly Route[],
  options: ApplicationOptions = {},
): {
  app: Application;
  port: number;
  logger: ReturnType<typeof recordingLogger>;
} {
  const logger = recordingLogger();
  const app = new Application(routes, { logger, accessLog: false, ...options });
  apps.push(app);
  const server = serve(app, { port: 0, hostname: '127.0.0.1' });
  return { app, port: server.port, logger };
}

async function open(port: number, path: string, subprotocols?: string[]): Promise<RawClient> {
  const client = await connect(port, path, subprotocols ? { subprotocols } : {});
  expect(client.status).toBe(101);
  return client;
}

/** What a handler saw, in order. */
class Journal {
  readonly entries: string[] = [];
  onCloseCalls = 0;
  closeCode: number | null | undefined = undefined;
  closeReason: string | null | undefined = undefined;
}

class Echo extends WebSocketHandler {
  override onMessage(message: string | Uint8Array): void {
    void this.writeMessage(message, { binary: typeof message !== 'string' });
  }
}

function recorded(journal: Journal) {
  return class extends WebSocketHandler {
    override open(...args: string[]): void {
      journal.entries.push(`open ${args.join(',')}`);
    }
    override onMessage(message: string | Uint8Array): void | Promise<void> {
      journal.entries.push(`message ${String(message)}`);
      if (message === 'close me') this.close(4002, 'as asked');
    }
    override onClose(): void {
      journal.onCloseCalls++;
      journal.closeCode = this.closeCode;
      journal.closeReason = this.closeReason;
    }
  };
}

describe('messages', () => {
  it('echoes text and binary exactly', async () => {
    const { port } = start([['/echo', Echo]]);
    const client = await open(port, '/echo');
    client.sendText('héllo ✓');
    client.sendBinary(new Uint8Array([0, 1, 2, 255]));
    expect(await nextMessage(client)).toBe('héllo ✓');
    expect([...(await nextMessage(client))]).toEqual([0, 1, 2, 255]);
  });

  it('sends empty messages, and keeps the connection (Bun reports 0 bytes sent for them)', async () => {
    class Empty extends WebSocketHandler {
      override async onMessage(): Promise<void> {
        await this.writeMessage('');
        await this.writeMessage(new Uint8Array(0), { binary: true });
        await this.writeMessage('after');
      }
    }
    const { app, port } = start([['/empty', Empty]]);
    const client = await open(port, '/empty');
    client.sendText('go');
    expect(await nextMessage(client)).toBe('');
    expect([...(await nextMessage(client))]).toEqual([]);
    expect(await nextMessage(client)).toBe('after');
    expect(app.connectionCount).toBe(1);
  });

  it('passes path arguments to open() and runs onMessage only after an async open()', async () => {
    const journal = new Journal();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    class SlowOpen extends recorded(journal) {
      override async open(...args: string[]): Promise<void> {
        super.open(...args);
        await gate;
        journal.entries.push('opened');
      }
    }
    const { port } = start([['/room/(\\w+)/(\\d+)', SlowOpen]]);
    const client = await open(port, '/room/blue/7');
    client.sendText('first');
    client.sendText('second');
    await until(() => journal.entries.length >= 1, 'open()');
    // Both messages have reached the server; neither may pass open() while it is pending.
    client.ping(new Uint8Array([1]));
    await until(() => client.events.received.some((e) => e.type === 'pong'), 'the pong');
    expect(journal.entries).toEqual(['open blue,7']);
    release();
    await until(() => journal.entries.length === 4, 'both messages');
    expect(journal.entries).toEqual(['open blue,7', 'opened', 'message first', 'message second']);
  });

  it('runs an async onMessage to completion before the next, in order, one at a time', async () => {
    const seen: string[] = [];
    let active = 0;
    let overlapped = false;
    class Sequential extends WebSocketHandler {
      override async onMessage(message: string | Uint8Array): Promise<void> {
        active++;
        if (active > 1) overlapped = true;
        // Several turns of the event loop, so that later messages arrive meanwhile.
        for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
        seen.push(String(message));
        active--;
        await this.writeMessage(`done ${String(message)}`);
      }
    }
    const { port } = start([['/seq', Sequential]]);
    const client = await open(port, '/seq');
    const sent = Array.from({ length: 50 }, (_, i) => `m${i}`);
    for (const message of sent) client.sendText(message);
    for (const message of sent) expect(await nextMessage(client)).toBe(`done ${message}`);
    expect(seen).toEqual(sent);
    expect(overlapped).toBe(false);
  });

  it('sends an object as JSON text, and resolves writeMessage once sent', async () => {
    let written: Promise<void> | undefined;
    class Json extends WebSocketHandler {
      override open(): void {
        written = this.writeMessage({ hello: 'bun', n: 1 });
      }
    }
    const { port } = start([['/json', Json]]);
    const client = await open(port, '/json');
    expect(JSON.parse(String(await nextMessage(client)))).toEqual({ hello: 'bun', n: 1 });
    await expect(written).resolves.toBeUndefined();
  });
});

describe('request', () => {
  it('gives the handler the path, query, lower-cased headers and remote address of the upgrade', async () => {
    const seen: string[] = [];
    class Inspect extends WebSocketHandler {
      override open(): void {
        const { request } = this;
        seen.push(
          `open ${request.method} ${request.path} ${request.query.get('q')} ${request.headers['x-custom']}`,
        );
      }
      override onMessage(): void {
        // First read after the upgrade: Bun knows the address from the socket by then.
        seen.push(`message ${this.request.remoteAddress}`);
        void this.writeMessage('seen');
      }
    }
    const { port } = start([['/inspect', Inspect]]);
    const client = await connect(port, '/inspect?q=1', { headers: { 'X-Custom': 'yes' } });
    expect(client.status).toBe(101);
    client.sendText('hi');
    expect(await nextMessage(client)).toBe('seen');
    expect(seen).toEqual(['open GET /inspect 1 yes', 'message 127.0.0.1']);
  });
});

describe('closing', () => {
  it('calls onClose once with the code and reason the client sent', async () => {
    const journal = new Journal();
    const { app, port } = start([['/j', recorded(journal)]]);
    const client = await open(port, '/j');
    client.sendText('a');
    client.close(4001, 'bye now');
    expect(await nextClose(client)).toEqual({ code: 4001, reason: 'bye now' });
    await client.closed;
    await until(() => journal.onCloseCalls > 0, 'onClose');
    expect(journal.onCloseCalls).toBe(1);
    expect(journal.closeCode).toBe(4001);
    expect(journal.closeReason).toBe('bye now');
    expect(journal.entries).toEqual(['open ', 'message a']);
    expect(app.connectionCount).toBe(0);
  });

  it('sends the code and reason the handler closes with, and calls onClose once', async () => {
    const journal = new Journal();
    const { port } = start([['/j', recorded(journal)]]);
    const client = await open(port, '/j');
    client.sendText('close me');
    expect(await nextClose(client)).toEqual({ code: 4002, reason: 'as asked' });
    await until(() => journal.onCloseCalls > 0, 'onClose');
    await client.closed;
    expect(journal.onCloseCalls).toBe(1);
  });

  it('calls onClose only after every queued message was handled', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    class Held extends WebSocketHandler {
      override async onMessage(message: string | Uint8Array): Promise<void> {
        if (message === 'hold') await gate;
        order.push(String(message));
      }
      override onClose(): void {
        order.push('onClose');
      }
    }
    const { port } = start([['/held', Held]]);
    const client = await open(port, '/held');
    client.sendText('hold');
    client.sendText('queued');
    client.close(1000);
    await nextClose(client);
    await client.closed;
    expect(order).toEqual([]);
    release();
    await until(() => order.length === 3, 'the queue and onClose');
    expect(order).toEqual(['hold', 'queued', 'onClose']);
  });

  it('throws WebSocketClosedError from writeMessage once closing started', async () => {
    let thrown: unknown;
    class Closer extends WebSocketHandler {
      override onMessage(): void {
        this.close(1000);
        try {
          void this.writeMessage('too late');
        } catch (error) {
          thrown = error;
        }
      }
    }
    const { port } = start([['/c', Closer]]);
    const client = await open(port, '/c');
    client.sendText('go');
    expect((await nextClose(client)).code).toBe(1000);
    expect(thrown).toBeInstanceOf(WebSocketClosedError);
  });

  it('sends 1001 "going away" on Application.close() and stops the server', async () => {
    const { app, port } = start([['/echo', Echo]]);
    const client = await open(port, '/echo');
    const closing = app.close();
    expect(await nextClose(client)).toEqual({ code: 1001, reason: 'going away' });
    await closing;
    await expect(connect(port, '/echo')).rejects.toThrow();
  });

  it('Bun difference: the server closes TCP right after its Close frame, without waiting for the echo', async () => {
    const clock = new ManualClock();
    const journal = new Journal();
    const { port } = start([['/j', recorded(journal)]], { clock, websocketCloseTimeout: 5 });
    const client = await open(port, '/j');
    client.sendText('close me');
    client.mute(); // the Close that comes back is never answered
    expect(await nextClose(client)).toEqual({ code: 4002, reason: 'as asked' });
    // No clock time passes: Bun reports the end as soon as it sent its Close and shut its side
    // (RFC 6455 §7.1.1 lets the server close first); the half-closed socket is Bun's from then on.
    await until(() => journal.onCloseCalls === 1, 'onClose');
    expect(clock.pending).toBe(0);
    // Bun reports the code it sent as the close's code.
    expect(journal.closeCode).toBe(4002);
  });
});

describe('errors', () => {
  it('fails only the connection with 1011 when open() or onMessage throws, and logs it', async () => {
    class BadOpen extends WebSocketHandler {
      override open(): void {
        throw new Error('open broke');
      }
    }
    class BadMessage extends WebSocketHandler {
      override async onMessage(): Promise<void> {
        throw new Error('message broke');
      }
    }
    const { port, logger } = start([
      ['/open', BadOpen],
      ['/message', BadMessage],
      ['/echo', Echo],
    ]);
    const a = await open(port, '/open');
    expect((await nextClose(a)).code).toBe(1011);
    const b = await open(port, '/message');
    b.sendText('x');
    expect((await nextClose(b)).code).toBe(1011);
    expect(logger.errors.map((error) => (error as Error).message)).toEqual([
      'open broke',
      'message broke',
    ]);
    const c = await open(port, '/echo');
    c.sendText('still serving');
    expect(await nextMessage(c)).toBe('still serving');
  });
});

describe('handshake', () => {
  class Private extends WebSocketHandler {
    override prepare(): Promise<void> {
      return Promise.reject(
        new HTTPError(401, 'who are you', { headers: { 'www-authenticate': 'Token' } }),
      );
    }
  }
  class Page extends RequestHandler {}

  it('answers 404 to an upgrade no WebSocket route matches (an HTTP route included), as listen()', async () => {
    const { port } = start([
      ['/echo', Echo],
      ['/page', Page],
    ]);
    expect((await connect(port, '/nowhere')).status).toBe(404);
    expect((await connect(port, '/page')).status).toBe(404);
  });

  it('answers an HTTPError thrown in an async prepare() with its status and headers', async () => {
    const { port } = start([['/private', Private]]);
    const refused = await connect(port, '/private');
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Token');
  });

  it('refuses a cross-origin upgrade with 403, and accepts its own origin', async () => {
    const { port } = start([['/echo', Echo]]);
    const other = await connect(port, '/echo', { origin: 'http://evil.example' });
    expect(other.status).toBe(403);
    expect(other.body).toBe('Cross origin websockets not allowed');
    const own = await connect(port, '/echo', { origin: `http://127.0.0.1:${port}` });
    expect(own.status).toBe(101);
  });

  it('refuses a bad key with 400, a bad version with 426, and answers a plain GET with 400', async () => {
    const { port } = start([['/echo', Echo]]);
    const head = (fields: string) =>
      `GET /echo HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${fields}\r\n`;
    const badKey = await connect(port, '/echo', {
      rawHead: head('Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n'),
    });
    expect(badKey.status).toBe(400);
    const badVersion = await connect(port, '/echo', {
      rawHead: head('Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n'),
    });
    expect(badVersion.status).toBe(426);
    expect(badVersion.headers['sec-websocket-version']).toBe('13');
    const plain = await connect(port, '/echo', {
      rawHead: `GET /echo HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
    });
    expect(plain.status).toBe(400);
  });
});

describe('subprotocols', () => {
  const offers: Array<readonly string[]> = [];
  class Picky extends WebSocketHandler {
    override selectSubprotocol(offered: readonly string[]): string | null {
      offers.push(offered);
      if (offered.includes('wrong')) return 'not-offered';
      return offered.includes('chat') ? 'chat' : null;
    }
    override open(): void {
      void this.writeMessage(`selected ${this.selectedSubprotocol}`);
    }
  }

  it('selects what selectSubprotocol returns, and none (not the first offered) when it returns null', async () => {
    const { port } = start([['/p', Picky]]);
    const chat = await open(port, '/p', ['superchat', 'chat']);
    expect(chat.headers['sec-websocket-protocol']).toBe('chat');
    expect(await nextMessage(chat)).toBe('selected chat');
    const none = await open(port, '/p', ['superchat']);
    expect(none.headers['sec-websocket-protocol']).toBeUndefined();
    expect(await nextMessage(none)).toBe('selected null');
    expect(offers).toEqual([['superchat', 'chat'], ['superchat']]);
  });

  it('answers 500 when selectSubprotocol returns one that was not offered', async () => {
    const { port, logger } = start([['/p', Picky]]);
    expect((await connect(port, '/p', { subprotocols: ['wrong'] })).status).toBe(500);
    expect(logger.lines.some((line) => line.includes('not-offered'))).toBe(true);
  });
});

describe('resume (gale.v1)', () => {
  const journal: string[] = [];
  class News extends WebSocketHandler {
    override selectSubprotocol(offered: readonly string[]): string | null {
      return offered.includes('chat') ? 'chat' : null;
    }
    override open(): void {
      journal.push(`open ${this.selectedSubprotocol}`);
      void this.subscribe('news');
      void this.writeMessage(`resumed ${this.resumed('news')}`);
    }
    override onMessage(message: string | Uint8Array): void {
      journal.push(`message ${String(message)}`);
      void this.application.publish('news', message, { exclude: this });
    }
    override onClose(): void {
      journal.push('onClose');
    }
  }
  const GALE = ['gale.v1+chat', 'gale.v1', 'chat'];
  const read = async (client: RawClient) => parseServerMessage(await nextMessage(client));

  // Before each, not after: the applications of a test close (and their handlers' onClose run)
  // after its own hooks.
  beforeEach(() => {
    journal.length = 0;
  });

  it('selects gale.v1+app, opens after the hello, and sends positions, envelopes and direct messages', async () => {
    const { app, port } = start([['/news', News]]);
    const client = await open(port, '/news', GALE);
    expect(client.headers['sec-websocket-protocol']).toBe('gale.v1+chat');
    client.ping();
    await until(() => client.events.received.some((e) => e.type === 'pong'), 'the pong');
    expect(journal).toEqual([]); // open() waits for the hello
    client.sendText(encodeHello([]));
    const begin = await read(client);
    expect(begin).toMatchObject({
      kind: 'control',
      control: { type: 'position', topic: 'news', offset: 0 },
    });
    expect(await read(client)).toEqual({ kind: 'direct', data: 'resumed false' });
    expect(journal).toEqual(['open chat']);
    app.publish('news', 'one');
    expect(await read(client)).toMatchObject({
      kind: 'topic',
      topic: 'news',
      position: { offset: 1 },
      data: 'one',
    });
    // Its own publish leaves it out: it is told the position it moved past.
    client.sendText('mine');
    expect(await read(client)).toMatchObject({
      kind: 'control',
      control: { type: 'position', offset: 2 },
    });
    // A plain client on the same topic gets the bare messages.
    const plain = await open(port, '/news', ['chat']);
    expect(plain.headers['sec-websocket-protocol']).toBe('chat');
    expect(await nextMessage(plain)).toBe('resumed false');
    app.publish('news', 'two');
    expect(await nextMessage(plain)).toBe('two');
    expect(await read(client)).toMatchObject({
      kind: 'topic',
      position: { offset: 3 },
      data: 'two',
    });
  });

  it('replays what a reconnecting client missed, in order, and resumed() is true', async () => {
    const { app, port } = start([['/news', News]]);
    const first = await open(port, '/news', GALE);
    first.sendText(encodeHello([]));
    const begin = await read(first);
    if (begin.kind !== 'control' || begin.control.type !== 'position')
      throw new Error('no position');
    await read(first); // resumed false
    app.publish('news', 'one');
    expect(await read(first)).toMatchObject({ kind: 'topic', data: 'one' });
    first.close(1001);
    await first.closed;
    await until(() => app.connectionCount === 0, 'the first connection to go');
    app.publish('news', 'two');
    app.publish('news', 'three');
    const again = await open(port, '/news', GALE);
    again.sendText(encodeHello([['news', begin.control.epoch, 1]]));
    expect(await read(again)).toMatchObject({ kind: 'control', control: { type: 'position' } });
    expect(await read(again)).toMatchObject({
      kind: 'topic',
      position: { offset: 2 },
      data: 'two',
    });
    expect(await read(again)).toMatchObject({
      kind: 'topic',
      position: { offset: 3 },
      data: 'three',
    });
    expect(await read(again)).toEqual({ kind: 'direct', data: 'resumed true' });
  });

  it('closes with 1002 when no hello comes within 10 s, running neither open nor onClose', async () => {
    const clock = new ManualClock();
    const { app, port } = start([['/news', News]], { clock });
    const client = await open(port, '/news', GALE);
    await until(() => app.connectionCount === 1, 'the connection');
    clock.advance(9_999);
    client.ping();
    await until(() => client.events.received.some((e) => e.type === 'pong'), 'the pong');
    clock.advance(1);
    expect(await nextClose(client)).toEqual({ code: 1002, reason: 'gale.v1: no hello' });
    await until(() => app.connectionCount === 0, 'the connection to go');
    expect(journal).toEqual([]);
  });
});

describe('topics', () => {
  class Fanout extends WebSocketHandler {
    override open(): void {
      void this.subscribe('news');
    }
    override onMessage(message: string | Uint8Array): void {
      if (message === 'leave') {
        void this.unsubscribe('news');
        void this.writeMessage('left');
        return;
      }
      void this.application.publish('news', message, { exclude: this });
    }
  }

  it('publishes to every subscriber once, in order with direct writes, leaving out the excluded one', async () => {
    const { app, port } = start([['/fan', Fanout]]);
    const [a, b, c] = await Promise.all([
      open(port, '/fan'),
      open(port, '/fan'),
      open(port, '/fan'),
    ]);
    app.publish('news', 'one');
    app.publish('news', new Uint8Array([7]));
    app.publish('news', { three: 3 });
    for (const client of [a!, b!, c!]) {
      expect(await nextMessage(client)).toBe('one');
      expect([...(await nextMessage(client))]).toEqual([7]);
      expect(await nextMessage(client)).toBe('{"three":3}');
    }
    a!.sendText('from a');
    expect(await nextMessage(b!)).toBe('from a');
    expect(await nextMessage(c!)).toBe('from a');
    // a was excluded: the next thing it gets is the message after.
    app.publish('news', 'after');
    expect(await nextMessage(a!)).toBe('after');
  });

  it('stops delivering after unsubscribe and after the connection closed', async () => {
    const { app, port } = start([['/fan', Fanout]]);
    const a = await open(port, '/fan');
    const b = await open(port, '/fan');
    a.sendText('leave');
    expect(await nextMessage(a)).toBe('left');
    b.close(1000);
    await b.closed;
    await until(() => app.connectionCount === 1, 'b to go');
    // a left the topic and b is gone: nothing arrives for anyone.
    app.publish('news', 'for nobody');
    a.ping(new Uint8Array([9]));
    await until(() => a.events.received.some((e) => e.type === 'pong'), 'the pong');
    expect(a.events.received.filter((e) => e.type === 'text').map((e) => e.data)).toEqual(['left']);
  });

  it('calls a listener subscription with each message instead of writing it', async () => {
    const heard: Array<string | Uint8Array> = [];
    class Listener extends WebSocketHandler {
      override open(): void {
        void this.subscribe('events', (message) => heard.push(message));
        void this.writeMessage('ready');
      }
    }
    const { app, port } = start([['/l', Listener]]);
    const client = await open(port, '/l');
    expect(await nextMessage(client)).toBe('ready');
    app.publish('events', 'logout');
    expect(heard).toEqual(['logout']);
    client.ping();
    await until(() => client.events.received.some((e) => e.type === 'pong'), 'the pong');
    expect(client.events.received.filter((e) => e.type === 'text')).toHaveLength(1);
  });
});

describe('topics across instances', () => {
  it('delivers what another application publishes through a shared broker, once per socket', async () => {
    const broker = new MemoryBroker();
    class Subscriber extends WebSocketHandler {
      override open(): void {
        void this.subscribe('shared');
        void this.writeMessage('ready');
      }
    }
    const a = start([['/s', Subscriber]], { broker });
    const b = start([['/s', Subscriber]], { broker });
    const onA = await open(a.port, '/s');
    const onB = await open(b.port, '/s');
    expect(await nextMessage(onA)).toBe('ready');
    expect(await nextMessage(onB)).toBe('ready');
    a.app.publish('shared', 'from a');
    b.app.publish('shared', 'from b');
    for (const client of [onA, onB]) {
      expect(await nextMessage(client)).toBe('from a');
      expect(await nextMessage(client)).toBe('from b');
    }
  });
});

describe('flow control', () => {
  const CHUNK = 128 * 1024;
  const COUNT = 256; // 32 MiB: more than the kernel's socket buffers take from a paused reader
  const written: Promise<void>[] = [];
  class Flood extends WebSocketHandler {
    override onMessage(): void {
      for (let i = 0; i < COUNT; i++)
        written.push(this.writeMessage(new Uint8Array(CHUNK).fill(i)));
    }
  }
  const options = {
    websocketMaxBufferedAmount: 1024 * 1024,
    websocketMaxMessageSize: 64 * 1024 * 1024,
  };

  afterEach(() => {
    written.length = 0;
  });

  it('settles each writeMessage once Bun has sent it to a client that reads', async () => {
    const { port } = start([['/flood', Flood]], options);
    const client = await open(port, '/flood');
    client.pause();
    client.sendText('go');
    await until(() => written.length === COUNT, 'the writes');
    let settled = 0;
    for (const promise of written) void promise.then(() => settled++);
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBeLessThan(COUNT);
    client.resume();
    await Promise.all(written);
    let received = 0;
    while (received < COUNT) {
      const message = await nextMessage(client);
      expect(message[0]).toBe(received % 256);
      received++;
    }
  });

  it('drops a client that takes nothing for websocketDrainTimeout once over websocketMaxBufferedAmount', async () => {
    const clock = new ManualClock();
    const journal = new Journal();
    class JournaledFlood extends Flood {
      override onClose(): void {
        journal.onCloseCalls++;
      }
    }
    const { port, logger } = start([['/flood', JournaledFlood]], { ...options, clock });
    const client = await open(port, '/flood');
    client.pause();
    client.sendText('go');
    await until(() => written.length === COUNT, 'the writes');
    clock.advance(9_999);
    expect(journal.onCloseCalls).toBe(0);
    // The kernel may still take bytes in the first window: the drop comes at the end of the first
    // window in which none left.
    for (let window = 0; window < 3 && journal.onCloseCalls === 0; window++) {
      clock.advance(10_000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await expect(written.at(-1)).rejects.toBeInstanceOf(WebSocketClosedError);
    await until(() => journal.onCloseCalls === 1, 'onClose');
    expect(logger.lines.some((line) => line.startsWith('closing a slow consumer'))).toBe(true);
  });
});

describe('topics to a slow consumer', () => {
  const CHUNK = 64 * 1024;
  const COUNT = 512; // 32 MiB: far past Bun's limit here, and the kernel's socket buffers
  const journal = new Journal();
  class Subscriber extends WebSocketHandler {
    override open(): void {
      void this.subscribe('news');
    }
    override onMessage(): void {
      for (let i = 0; i < COUNT; i++) {
        this.application.publish('news', new Uint8Array(CHUNK).fill(i % 256), { exclude: this });
      }
    }
    override onClose(): void {
      journal.onCloseCalls++;
      journal.closeCode = this.closeCode;
    }
  }

  it('Bun difference: closes a subscriber that falls behind past Bun’s backpressure limit, and drops nothing while it is open', async () => {
    // Bun's limit: websocketMaxBufferedAmount + 2 × websocketMaxMessageSize + 1 MiB, about 1.2 MiB.
    const { port } = start([['/news', Subscriber]], {
      websocketMaxBufferedAmount: CHUNK,
      websocketMaxMessageSize: CHUNK,
    });
    const slow = await open(port, '/news');
    slow.pause();
    const publisher = await open(port, '/news');
    publisher.sendText('go');
    await until(() => journal.onCloseCalls >= 1, 'the slow subscriber closed');
    // What reached the slow client is every message from the first, in order, with no gap.
    slow.resume();
    let received = 0;
    let end = '';
    for (;;) {
      const message = await nextMessage(slow).catch((error: unknown) => {
        end = String(error);
        return null;
      });
      if (message === null || typeof message === 'string') break;
      expect(message.length).toBe(CHUNK);
      expect(message[0]).toBe(received % 256);
      received++;
    }
    expect(received).toBeLessThan(COUNT);
    // Bun ends the connection without a Close frame.
    expect(end).toBe('Error: closed 1006 ');
    expect(journal.closeCode).toBeNull();
    expect(journal.onCloseCalls).toBe(1); // the publisher reads: it stays open
  });
});

describe('compression', () => {
  class Compressing extends Echo {
    override getCompressionOptions(): DeflateOptions {
      return {};
    }
  }
  const big = 'z'.repeat(2048);

  it('compresses what a handler with compression options sends, at least threshold bytes', async () => {
    const { port } = start([['/deflate', Compressing]]);
    const client = await connect(port, '/deflate', { deflate: 'use' });
    expect(client.status).toBe(101);
    client.sendText(big);
    client.sendText('short');
    expect(await nextMessage(client)).toBe(big);
    expect(await nextMessage(client)).toBe('short');
    // The proof that it was compressed: a client that offered but cannot inflate fails on it.
    const naive = await connect(port, '/deflate', { deflate: 'offer' });
    naive.sendText('short');
    expect(await nextMessage(naive)).toBe('short');
    naive.sendText(big);
    await expect(nextMessage(naive)).rejects.toThrow(/closed 1006/);
  });

  it('Bun difference: once a route compresses, Bun accepts the offer for every handler (no context takeover), and one without compression sends uncompressed', async () => {
    const { port } = start([
      ['/echo', Echo],
      ['/deflate', Compressing],
    ]);
    const client = await connect(port, '/echo', { deflate: 'offer' });
    expect(client.headers['sec-websocket-extensions']).toBe(
      'permessage-deflate; client_no_context_takeover; server_no_context_takeover',
    );
    client.sendText(big);
    expect(await nextMessage(client)).toBe(big);
  });

  it('declines the offer when no route can compress (Bun publishes faster without the extension), unless perMessageDeflate says so', async () => {
    const { port } = start([['/echo', Echo]]);
    const client = await connect(port, '/echo', { deflate: 'offer' });
    expect(client.headers['sec-websocket-extensions']).toBeUndefined();
    client.sendText(big);
    expect(await nextMessage(client)).toBe(big);
    const logger = recordingLogger();
    const app = new Application([['/echo', Echo]], { logger, accessLog: false });
    apps.push(app);
    const forced = serve(app, { port: 0, hostname: '127.0.0.1', perMessageDeflate: true });
    const offered = await connect(forced.port, '/echo', { deflate: 'offer' });
    expect(offered.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate/);
  });
});

describe('limits', () => {
  it('closes with 1009 when a message exceeds websocketMaxMessageSize, and calls onClose', async () => {
    const journal = new Journal();
    const { port } = start([['/j', recorded(journal)]], { websocketMaxMessageSize: 1024 });
    const client = await open(port, '/j');
    client.sendText('x'.repeat(1024));
    client.sendText('y'.repeat(1025));
    expect((await nextClose(client)).code).toBe(1009);
    await until(() => journal.onCloseCalls === 1, 'onClose');
    expect(journal.entries).toEqual(['open ', `message ${'x'.repeat(1024)}`]);
    // Bun difference: Bun reports no Close frame from the peer (1006), so closeCode is null.
    expect(journal.closeCode).toBeNull();
  });

  it('Bun difference: closes with 1008 a peer that sends more than websocketMaxBufferedAmount while its handler is busy, and serves others', async () => {
    let release: () => void = () => {};
    const handled: string[] = [];
    class Stuck extends WebSocketHandler {
      override async onMessage(message: string | Uint8Array): Promise<void> {
        handled.push(String(message).slice(0, 5));
        if (handled.length === 1) await new Promise<void>((resolve) => (release = resolve));
      }
    }
    const { port, logger } = start(
      [
        ['/stuck', Stuck],
        ['/echo', Echo],
      ],
      { websocketMaxBufferedAmount: 4096 },
    );
    const client = await open(port, '/stuck');
    client.sendText('first'); // the handler waits on this one
    await until(() => handled.length === 1, 'the first message');
    // 4 × 1000 bytes wait within the limit; the fifth passes it.
    for (let i = 0; i < 5; i++) client.sendText(`m${i}`.padEnd(1000, '.'));
    const close = await nextClose(client);
    expect(close).toEqual({ code: 1008, reason: 'too much sent while the handler was busy' });
    expect(logger.lines.some((line) => line.includes('while its handler was busy'))).toBe(true);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(handled).toEqual(['first']); // what waited was dropped, not handled after the close
    const other = await open(port, '/echo');
    other.sendText('still serving');
    expect(await nextMessage(other)).toBe('still serving');
  });
});

describe('pings', () => {
  it('reports a client ping to onPing and a pong to onPong', async () => {
    const seen: string[] = [];
    class Pinger extends WebSocketHandler {
      override onPing(data: Uint8Array): void {
        seen.push(`ping ${[...data]}`);
        this.ping(new Uint8Array([2]));
      }
      override onPong(data: Uint8Array): void {
        seen.push(`pong ${[...data]}`);
      }
    }
    const { port } = start([['/p', Pinger]]);
    const client = await open(port, '/p');
    client.ping(new Uint8Array([1]));
    await until(() => seen.length === 2, 'the ping and the pong');
    expect(seen).toEqual(['ping 1', 'pong 2']);
  });

  it('pings every websocketPingInterval and closes with 1000 "ping timed out" without a pong', async () => {
    const clock = new ManualClock();
    let pongs = 0;
    class Alive extends Echo {
      override onPong(): void {
        pongs++;
      }
    }
    const { port } = start([['/echo', Alive]], {
      clock,
      websocketPingInterval: 10,
      websocketPingTimeout: 5,
    });
    const client = await open(port, '/echo');
    clock.advance(10_000);
    await until(() => pongs === 1, 'the first pong');
    client.mute();
    clock.advance(10_000);
    await until(
      () => client.events.received.filter((e) => e.type === 'ping').length === 2,
      'a second ping',
    );
    clock.advance(5_000);
    expect(await nextClose(client)).toEqual({ code: 1000, reason: 'ping timed out' });
  });
});
