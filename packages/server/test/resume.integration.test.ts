import { connect } from 'node:net';
import { encodeHello, parseServerMessage, type ServerMessage } from '@gale/frame/resume';
import { Inbox, ManualClock, recordingLogger, until } from '@gale/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  Application,
  type ApplicationOptions,
  type Broker,
  MemoryBroker,
  type Position,
  WebSocketHandler,
} from '../src/index.js';
import { serve as listen } from './serve-runtime.js';

// gale.v1 (docs/resume-protocol.md) over real sockets, with ws as a raw peer that speaks it by
// hand: the hello, envelopes, controls, resuming after a reconnection, and plain clients beside.

const apps: Application[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close(500)));
});

/** What handlers of the test app did, for the tests to check. */
const events: string[] = [];

/**
 * Subscribes to 'news' in open() (or the route's topic), then tells the client whether that
 * resumed and which subprotocol it has. Echoes messages; 'shout' publishes excluding itself,
 * 'bytes' and 'binary text' answer binary.
 */
class Feed extends WebSocketHandler {
  topic = 'news';

  override selectSubprotocol(offered: readonly string[]): string | null {
    events.push(`offered ${offered.join(',')}`);
    return offered.includes('chat') ? 'chat' : null;
  }

  override open(topic?: string): void {
    if (topic) this.topic = topic;
    events.push('open');
    this.subscribe(this.topic);
    void this.writeMessage({
      resumed: this.resumed(this.topic),
      protocol: this.selectedSubprotocol,
    });
  }

  override onMessage(message: string | Uint8Array): void {
    if (message === 'shout') this.application.publish(this.topic, 'shouted', { exclude: this });
    else if (message === 'bytes') void this.writeMessage(new Uint8Array([0x0a, 1, 2]));
    else if (message === 'binary text') void this.writeMessage('text', { binary: true });
    else void this.writeMessage(message);
  }

  override onClose(): void {
    events.push('close');
  }
}

class Failing extends WebSocketHandler {
  override open(): void {
    throw new Error('open failed');
  }
}

async function serve(options: ApplicationOptions = {}) {
  events.length = 0;
  const logger = recordingLogger();
  const app = new Application(
    [
      ['/news', Feed],
      ['/topic/(\\w+)', Feed],
      ['/failing', Failing],
    ],
    { logger, accessLog: false, ...options },
  );
  apps.push(app);
  const served = await listen(app);
  return { app, logger, url: served.ws };
}

type Message = ServerMessage<string | Uint8Array>;

interface Peer {
  readonly ws: WebSocket;
  /** Every message, parsed as gale.v1 (gale peers) or as it is (plain peers). */
  readonly inbox: Inbox<Message | string | Uint8Array>;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
}

function peer(url: string, protocols: string[] = [], gale = protocols.length > 0): Peer {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
  const inbox = new Inbox<Message | string | Uint8Array>();
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const message = isBinary ? new Uint8Array(data) : data.toString();
    inbox.push(gale ? parseServerMessage(message) : message);
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => {
      inbox.end('closed');
      resolve({ code, reason: reason.toString() });
    }),
  );
  return { ws, inbox, opened, closed };
}

/** A gale.v1 peer that has sent its hello. */
async function galePeer(
  url: string,
  resume: ReadonlyArray<readonly [string, Position]> = [],
  protocols = ['gale.v1'],
): Promise<Peer> {
  const p = peer(url, protocols, true);
  await p.opened;
  p.ws.send(encodeHello(resume.map(([topic, { epoch, offset }]) => [topic, epoch, offset])));
  return p;
}

const position = (topic: string, at: Position): Message => ({
  kind: 'control',
  control: { type: 'position', topic, epoch: at.epoch, offset: at.offset },
});
const topicMessage = (topic: string, at: Position, data: string | Uint8Array): Message => ({
  kind: 'topic',
  topic,
  position: at,
  data,
});
const direct = (data: string | Uint8Array): Message => ({ kind: 'direct', data });
const greeting = (resumed: boolean, protocol: string | null = null): Message =>
  direct(JSON.stringify({ resumed, protocol }));

function pong(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    ws.once('pong', () => resolve());
    ws.ping();
  });
}

describe('gale.v1 negotiation', () => {
  it('selects gale.v1 and hands the handler only the application’s subprotocols', async () => {
    const { url } = await serve();
    const p = peer(url('/news'), ['gale.v1'], true);
    await p.opened;
    expect(p.ws.protocol).toBe('gale.v1');
    expect(events).toEqual(['offered ']);
    p.ws.close();
  });

  it('selects gale.v1+chat when the handler chooses chat; selectedSubprotocol is chat', async () => {
    const { url } = await serve();
    const p = await galePeer(url('/news'), [], ['gale.v1+chat', 'gale.v1', 'chat']);
    expect(p.ws.protocol).toBe('gale.v1+chat');
    expect(events[0]).toBe('offered chat');
    await p.inbox.next(); // the position control
    expect(await p.inbox.next()).toEqual(greeting(false, 'chat'));
  });

  it('makes a plain connection with chat when gale.v1+chat was not offered', async () => {
    const { url } = await serve();
    const p = peer(url('/news'), ['gale.v1', 'chat'], false);
    await p.opened;
    expect(p.ws.protocol).toBe('chat');
    // No hello needed: open() ran, and what it wrote is plain.
    expect(await p.inbox.next()).toBe(JSON.stringify({ resumed: false, protocol: 'chat' }));
  });

  it('with resume: false, treats a gale.v1 offer as any other subprotocol', async () => {
    const { url } = await serve({ resume: false });
    const p = peer(url('/news'), ['gale.v1+chat', 'gale.v1', 'chat'], false);
    await p.opened;
    expect(events[0]).toBe('offered gale.v1+chat,gale.v1,chat');
    expect(p.ws.protocol).toBe('chat');
    expect(await p.inbox.next()).toBe(JSON.stringify({ resumed: false, protocol: 'chat' }));
  });
});

describe('the hello', () => {
  it('runs open() only once the hello arrived, and never hands the hello to onMessage', async () => {
    const { app, url } = await serve();
    const p = peer(url('/news'), ['gale.v1'], true);
    await p.opened;
    await until(() => app.connectionCount === 1, 'the connection');
    await pong(p.ws); // the server has read everything the client sent so far
    expect(events).not.toContain('open');
    p.ws.send(encodeHello([]));
    const start = (await p.inbox.next()) as Extract<Message, { kind: 'control' }>;
    expect(start.control).toMatchObject({ type: 'position', topic: 'news', offset: 0 });
    expect(await p.inbox.next()).toEqual(greeting(false));
    expect(events).toEqual(['offered ', 'open']);
    p.ws.send('after the hello');
    expect(await p.inbox.next()).toEqual(direct('after the hello'));
  });

  it('takes a hello that came with the upgrade request, before the 101', async () => {
    const { url } = await serve();
    const { hostname, port } = new URL(url('/news'));
    const hello = Buffer.from(encodeHello([]));
    // A masked text frame with a zero mask: the payload goes as it is.
    const frame = Buffer.concat([Buffer.from([0x81, 0x80 | hello.length, 0, 0, 0, 0]), hello]);
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.write(
      [
        'GET /news HTTP/1.1',
        `Host: ${hostname}:${port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Protocol: gale.v1',
        '',
        '',
      ].join('\r\n'),
    );
    socket.write(frame);
    await until(() => received.includes('"resumed":false'), 'the greeting');
    expect(received).toContain('Sec-WebSocket-Protocol: gale.v1\r\n');
    expect(received).toMatch(/\{"type":"position","topic":"news","epoch":"[\w-]+","offset":0\}\n/);
    socket.destroy();
  });

  it.each([
    ['text that is not a hello', 'hello'],
    ['a hello with a bad point', '{"resume":[["news","",1]]}'],
    ['bytes', Buffer.from(encodeHello([]))],
  ])('closes with 1002 on %s, and goes on serving the others', async (_what, first) => {
    const { app, url } = await serve();
    const good = await galePeer(url('/news'));
    await good.inbox.next();
    await good.inbox.next();
    const bad = peer(url('/news'), ['gale.v1'], true);
    await bad.opened;
    bad.ws.send(first);
    expect(await bad.closed).toEqual({ code: 1002, reason: 'gale.v1: malformed hello' });
    expect(events.filter((e) => e === 'open')).toHaveLength(1); // the good one's
    await until(() => app.connectionCount === 1, 'the bad connection gone');
    expect(events).not.toContain('close'); // no open(), no onClose()
    const at = app.publish('news', 'still here') as Position;
    expect(await good.inbox.next()).toEqual(topicMessage('news', at, 'still here'));
  });

  it('closes with 1002 when no hello came within 10 s on the application’s clock', async () => {
    const clock = new ManualClock();
    const { app, url } = await serve({ clock });
    const p = peer(url('/news'), ['gale.v1'], true);
    await p.opened;
    await until(() => app.connectionCount === 1, 'the connection');
    clock.advance(9_999);
    await pong(p.ws);
    expect(p.ws.readyState).toBe(WebSocket.OPEN);
    clock.advance(1);
    expect(await p.closed).toEqual({ code: 1002, reason: 'gale.v1: no hello' });
    await until(() => app.connectionCount === 0, 'the connection gone');
    expect(events).not.toContain('open');
    expect(events).not.toContain('close'); // no open(), no onClose()
  });

  it('does not time out a connection whose hello arrived', async () => {
    const clock = new ManualClock();
    const { url } = await serve({ clock });
    const p = await galePeer(url('/news'));
    await p.inbox.next();
    await p.inbox.next();
    clock.advance(60_000);
    p.ws.send('still open');
    expect(await p.inbox.next()).toEqual(direct('still open'));
  });

  it('fails the connection with 1011 when open() throws after the hello', async () => {
    const { logger, url } = await serve();
    const p = await galePeer(url('/failing'));
    expect((await p.closed).code).toBe(1011);
    expect(logger.records.some(({ message }) => message.includes('Failing.open'))).toBe(true);
  });
});

describe('gale.v1 messages', () => {
  it('wraps topic messages (text and binary) and direct ones (text and binary)', async () => {
    const { app, url } = await serve();
    const p = await galePeer(url('/news'));
    const start = (await p.inbox.next()) as Extract<Message, { kind: 'control' }>;
    expect(await p.inbox.next()).toEqual(greeting(false));
    const epoch = (start.control as { epoch: string }).epoch;
    expect(app.publish('news', 'one')).toEqual({ epoch, offset: 1 });
    app.publish('news', new Uint8Array([1, 0x0a, 2]));
    app.publish('news', { n: 3 });
    expect(await p.inbox.next()).toEqual(topicMessage('news', { epoch, offset: 1 }, 'one'));
    expect(await p.inbox.next()).toEqual(
      topicMessage('news', { epoch, offset: 2 }, new Uint8Array([1, 0x0a, 2])),
    );
    expect(await p.inbox.next()).toEqual(topicMessage('news', { epoch, offset: 3 }, '{"n":3}'));
    p.ws.send('text');
    expect(await p.inbox.next()).toEqual(direct('text'));
    p.ws.send('bytes');
    expect(await p.inbox.next()).toEqual(direct(new Uint8Array([0x0a, 1, 2])));
    p.ws.send('binary text');
    expect(await p.inbox.next()).toEqual(direct(new TextEncoder().encode('text')));
  });

  it('sends a position control in place of a message the client was excluded from', async () => {
    const { url } = await serve();
    const me = await galePeer(url('/news'));
    const you = await galePeer(url('/news'));
    const { control } = (await me.inbox.next()) as Extract<Message, { kind: 'control' }>;
    const { epoch } = control as { epoch: string };
    await me.inbox.next();
    await you.inbox.next();
    await you.inbox.next();
    me.ws.send('shout');
    expect(await me.inbox.next()).toEqual(position('news', { epoch, offset: 1 }));
    expect(await you.inbox.next()).toEqual(topicMessage('news', { epoch, offset: 1 }, 'shouted'));
  });
});

describe('resuming', () => {
  async function firstVisit(url: (path: string) => string, topic = 'news') {
    const p = await galePeer(url(topic === 'news' ? '/news' : `/topic/${topic}`));
    const { control } = (await p.inbox.next()) as Extract<Message, { kind: 'control' }>;
    await p.inbox.next();
    return { p, epoch: (control as { epoch: string }).epoch };
  }

  it('replays exactly the messages missed while disconnected, then live ones', async () => {
    const { app, url } = await serve();
    const { p: first, epoch } = await firstVisit(url);
    app.publish('news', 'm1');
    app.publish('news', 'm2');
    expect(await first.inbox.next()).toEqual(topicMessage('news', { epoch, offset: 1 }, 'm1'));
    expect(await first.inbox.next()).toEqual(topicMessage('news', { epoch, offset: 2 }, 'm2'));
    first.ws.close();
    await first.closed;
    await until(() => app.connectionCount === 0, 'the first connection gone');
    app.publish('news', 'm3');
    app.publish('news', 'm4');

    const again = await galePeer(url('/news'), [['news', { epoch, offset: 2 }]]);
    expect(await again.inbox.next()).toEqual(position('news', { epoch, offset: 2 }));
    expect(await again.inbox.next()).toEqual(topicMessage('news', { epoch, offset: 3 }, 'm3'));
    expect(await again.inbox.next()).toEqual(topicMessage('news', { epoch, offset: 4 }, 'm4'));
    expect(await again.inbox.next()).toEqual(greeting(true));
    app.publish('news', 'm5');
    expect(await again.inbox.next()).toEqual(topicMessage('news', { epoch, offset: 5 }, 'm5'));
    expect(again.inbox.unread).toBe(0);
  });

  it('resumes with nothing to replay when nothing was missed', async () => {
    const { app, url } = await serve();
    const { p: first, epoch } = await firstVisit(url);
    first.ws.close();
    await until(() => app.connectionCount === 0, 'the first connection gone');
    const again = await galePeer(url('/news'), [['news', { epoch, offset: 0 }]]);
    expect(await again.inbox.next()).toEqual(position('news', { epoch, offset: 0 }));
    expect(await again.inbox.next()).toEqual(greeting(true));
  });

  it('reports a gap for what the history dropped, then sends what it kept', async () => {
    const { app, url } = await serve({ broker: new MemoryBroker({ history: { maxCount: 2 } }) });
    const { p: first, epoch } = await firstVisit(url);
    app.publish('news', 'm1');
    expect(await first.inbox.next()).toEqual(topicMessage('news', { epoch, offset: 1 }, 'm1'));
    first.ws.close();
    await until(() => app.connectionCount === 0, 'the first connection gone');
    for (const m of ['m2', 'm3', 'm4', 'm5']) app.publish('news', m);

    const again = await galePeer(url('/news'), [['news', { epoch, offset: 1 }]]);
    expect(await again.inbox.next()).toEqual({
      kind: 'control',
      control: {
        type: 'gap',
        topic: 'news',
        from: { epoch, offset: 1 },
        to: { epoch, offset: 3 },
      },
    });
    expect(await again.inbox.next()).toEqual(topicMessage('news', { epoch, offset: 4 }, 'm4'));
    expect(await again.inbox.next()).toEqual(topicMessage('news', { epoch, offset: 5 }, 'm5'));
    expect(await again.inbox.next()).toEqual(greeting(false));
  });

  it('reports a gap across epochs (a position the broker never gave)', async () => {
    const { url } = await serve();
    const old = { epoch: 'lostEpoch', offset: 7 };
    const p = await galePeer(url('/news'), [['news', old]]);
    const { control } = (await p.inbox.next()) as Extract<Message, { kind: 'control' }>;
    expect(control).toMatchObject({ type: 'gap', topic: 'news', from: old, to: { offset: 0 } });
    expect(await p.inbox.next()).toEqual(greeting(false));
  });

  it('resumes only the topics the handler subscribes to, and ignores the others', async () => {
    const { app, url } = await serve();
    const { p: first, epoch } = await firstVisit(url, 'sport');
    first.ws.close();
    await until(() => app.connectionCount === 0, 'the first connection gone');
    app.publish('sport', 'goal');
    const again = await galePeer(url('/topic/sport'), [
      ['sport', { epoch, offset: 0 }],
      ['weather', { epoch: 'whatever', offset: 3 }],
    ]);
    expect(await again.inbox.next()).toEqual(position('sport', { epoch, offset: 0 }));
    expect(await again.inbox.next()).toEqual(topicMessage('sport', { epoch, offset: 1 }, 'goal'));
    expect(await again.inbox.next()).toEqual(greeting(true));
  });
});

describe('topic listeners on a gale.v1 connection', () => {
  it('never resume, get no controls, and leave the hello’s position to the socket', async () => {
    const heard: Array<string | Uint8Array> = [];
    class Listening extends WebSocketHandler {
      override open(): void {
        this.subscribe('news', (message) => heard.push(message));
        void this.writeMessage(`listener resumed: ${this.resumed('news')}`);
      }
      override onMessage(): void {
        this.subscribe('news');
        void this.writeMessage(`socket resumed: ${this.resumed('news')}`);
      }
    }
    const app = new Application([['/listen', Listening]], { logger: recordingLogger() });
    apps.push(app);
    const { ws: url } = await listen(app);
    const at = app.publish('news', 'm1') as Position;
    const p = await galePeer(url('/listen'), [['news', { epoch: at.epoch, offset: 0 }]]);
    expect(await p.inbox.next()).toEqual(direct('listener resumed: false'));
    expect(heard).toEqual([]); // nothing replayed to the listener
    p.ws.send('subscribe the socket');
    expect(await p.inbox.next()).toEqual(position('news', { epoch: at.epoch, offset: 0 }));
    expect(await p.inbox.next()).toEqual(topicMessage('news', at, 'm1'));
    expect(await p.inbox.next()).toEqual(direct('socket resumed: true'));
    app.publish('news', 'm2');
    expect(await p.inbox.next()).toMatchObject({ kind: 'topic', data: 'm2' });
    expect(heard).toEqual(['m2']);
  });
});

describe('plain clients beside gale.v1 ones', () => {
  it('see exactly the plain messages: no headers, no controls', async () => {
    const { app, url } = await serve();
    const plain = peer(url('/news'));
    await plain.opened;
    expect(plain.ws.protocol).toBe('');
    expect(await plain.inbox.next()).toBe(JSON.stringify({ resumed: false, protocol: null }));
    const gale = await galePeer(url('/news'));
    await gale.inbox.next();
    await gale.inbox.next();
    await until(() => app.connectionCount === 2, 'both connections');
    app.publish('news', 'text');
    app.publish('news', new Uint8Array([1, 2]));
    expect(await plain.inbox.next()).toBe('text');
    expect(await plain.inbox.next()).toEqual(new Uint8Array([1, 2]));
    expect(await gale.inbox.next()).toMatchObject({ kind: 'topic', data: 'text' });
    plain.ws.send('shout'); // excluded: nothing at all, not a control
    plain.ws.send('echo');
    expect(await plain.inbox.next()).toBe('echo');
    expect(await gale.inbox.next()).toMatchObject({ kind: 'topic', data: new Uint8Array([1, 2]) });
    expect(await gale.inbox.next()).toMatchObject({ kind: 'topic', data: 'shouted' });
    expect(plain.inbox.unread).toBe(0);
  });
});

describe('closing for a deploy', () => {
  it('close({ code: 1012 }) sends Service Restart', async () => {
    const { app, url } = await serve();
    const gale = await galePeer(url('/news'));
    const plain = peer(url('/news'));
    await plain.opened;
    await until(() => app.connectionCount === 2, 'both connections');
    apps.splice(apps.indexOf(app), 1);
    await app.close({ code: 1012 });
    expect(await gale.closed).toEqual({ code: 1012, reason: 'service restart' });
    expect(await plain.closed).toEqual({ code: 1012, reason: 'service restart' });
  });

  it('close() still sends 1001 going away, and a reason can be given', async () => {
    const { app, url } = await serve();
    const p = peer(url('/news'));
    await p.opened;
    await until(() => app.connectionCount === 1, 'the connection');
    apps.splice(apps.indexOf(app), 1);
    await app.close({ code: 1001, reason: 'bye' });
    expect(await p.closed).toEqual({ code: 1001, reason: 'bye' });
  });

  it('refuses other codes', async () => {
    const app = new Application([], { logger: recordingLogger() });
    await expect(app.close({ code: 1000 as 1001 })).rejects.toThrow(/1001.*1012/);
    await app.close();
  });
});

describe('an async broker', () => {
  it('resumed(topic) is known once subscribe() settled', async () => {
    const memory = new MemoryBroker();
    // The in-memory broker behind promises, as a networked one answers.
    const broker: Broker = {
      subscribe: async (topic, subscriber, options) => memory.subscribe(topic, subscriber, options),
      unsubscribe: async (topic, subscriber) => memory.unsubscribe(topic, subscriber),
      publish: async (topic, message, options) => memory.publish(topic, message, options),
    };
    class AsyncFeed extends WebSocketHandler {
      override async open(): Promise<void> {
        const before = this.resumed('news');
        await this.subscribe('news');
        void this.writeMessage({ before, after: this.resumed('news') });
      }
    }
    const app = new Application([['/news', AsyncFeed]], { broker, logger: recordingLogger() });
    apps.push(app);
    const { ws: url } = await listen(app);
    const at = await app.publish('news', 'm1');
    const p = await galePeer(url('/news'), [['news', { epoch: at.epoch, offset: 0 }]]);
    expect(await p.inbox.next()).toEqual(position('news', { epoch: at.epoch, offset: 0 }));
    expect(await p.inbox.next()).toEqual(topicMessage('news', at, 'm1'));
    expect(await p.inbox.next()).toEqual(direct(JSON.stringify({ before: false, after: true })));
  });
});
