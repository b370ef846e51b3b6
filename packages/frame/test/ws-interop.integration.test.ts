import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type AddressInfo, connect as netConnect } from 'node:net';
import { Inbox } from '@gale/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { createRequest, type ProtocolEvent } from '../src/index.js';
import type { DeflateOptions } from '../src/permessage-deflate.js';
import {
  type ClientOptions,
  type ClosedStatus,
  type Connection,
  connectClient,
  type ServerOptions,
  startServer,
  type TestServer,
} from './harness.js';
import { prng } from './helpers.js';

// Interoperability with ws 8, the reference Node implementation, in both directions: a ws client
// against the gale server of ./harness.ts, and the gale client against a ws WebSocketServer that
// echoes. Every wait is on an event; timeouts only bound a test that would otherwise hang.

const LARGE_TIMEOUT = 60_000;

// ---------------------------------------------------------------------------------------------
// Resources: everything a test opens is closed after it, even when it fails.

const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startGaleServer(options: ServerOptions = {}): Promise<TestServer> {
  const server = await startServer(options);
  cleanups.push(() => server.close());
  return server;
}

async function connectGaleClient(port: number, options: ClientOptions = {}): Promise<Connection> {
  const client = await connectClient(port, options);
  cleanups.push(() => client.destroy());
  return client;
}

/** A ws endpoint with everything it emits queued, so that no event is missed. */
interface WsPeer {
  readonly ws: WebSocket;
  nextMessage(): Promise<WsMessage>;
  nextPing(): Promise<Buffer>;
  nextPong(): Promise<Buffer>;
  /** Resolves with the code and reason of ws's 'close' event (the TCP connection is closed). */
  readonly closed: Promise<ClosedStatus>;
}

interface WsMessage {
  readonly data: Buffer;
  readonly isBinary: boolean;
}

interface WsClient extends WsPeer {
  /** The 101 response ws received. */
  readonly response: IncomingMessage;
}

interface WsServer {
  readonly port: number;
  /** The server end of the next connection; it echoes every message as it came. */
  nextConnection(): Promise<WsPeer>;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function watchWs(ws: WebSocket): WsPeer {
  const messages = new Inbox<WsMessage>();
  const pings = new Inbox<Buffer>();
  const pongs = new Inbox<Buffer>();
  const errors: Error[] = [];
  ws.on('message', (data, isBinary) => messages.push({ data: toBuffer(data), isBinary }));
  ws.on('ping', (data) => pings.push(data));
  ws.on('pong', (data) => pongs.push(data));
  ws.on('error', (error) => errors.push(error));
  const closed = new Promise<ClosedStatus>((resolve) => {
    ws.once('close', (code, reason) => {
      const why = `ws closed with ${code} ${JSON.stringify(reason.toString())}${
        errors.length > 0 ? ` (${errors.map((error) => error.message).join('; ')})` : ''
      }`;
      for (const queue of [messages, pings, pongs]) queue.end(why);
      resolve({ code, reason: reason.toString() });
    });
  });
  return {
    ws,
    nextMessage: () => messages.next(),
    nextPing: () => pings.next(),
    nextPong: () => pongs.next(),
    closed,
  };
}

async function closeWs(peer: WsPeer): Promise<void> {
  if (peer.ws.readyState !== WebSocket.CLOSED) peer.ws.terminate();
  await peer.closed;
}

async function openWsClient(
  port: number,
  protocols: string[] = [],
  options: WebSocket.ClientOptions = {},
): Promise<WsClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols, options);
  const peer = watchWs(ws);
  cleanups.push(() => closeWs(peer));
  const response = new Promise<IncomingMessage>((resolve) => ws.once('upgrade', resolve));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ...peer, response: await response };
}

async function startWsServer(options: WebSocket.ServerOptions = {}): Promise<WsServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  const connections = new Inbox<WsPeer>();
  wss.on('connection', (ws) => {
    const peer = watchWs(ws);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    connections.push(peer);
  });
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  return {
    port: (wss.address() as AddressInfo).port,
    nextConnection: () => connections.next(),
  };
}

// ---------------------------------------------------------------------------------------------
// Messages

/** A message as the test sees it: UTF-8 bytes for text, split into the frames it is sent as. */
interface TestMessage {
  readonly binary: boolean;
  readonly fragments: readonly Buffer[];
}

/** What identifies a message in an assertion, without printing megabytes on failure. */
interface MessageDigest {
  readonly binary: boolean;
  readonly length: number;
  readonly sha256: string;
}

function digest(binary: boolean, data: Uint8Array | string): MessageDigest {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return {
    binary,
    length: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

function digestOfMessage(message: TestMessage): MessageDigest {
  return digest(message.binary, Buffer.concat(message.fragments));
}

function digestOfWsMessage(message: WsMessage): MessageDigest {
  return digest(message.isBinary, message.data);
}

function digestOfEvent(event: ProtocolEvent): MessageDigest {
  if (event.type !== 'text' && event.type !== 'binary') {
    throw new Error(`expected a message, got a ${event.type} event`);
  }
  return digest(event.type === 'binary', event.data);
}

function sendFromWs(ws: WebSocket, message: TestMessage): void {
  message.fragments.forEach((fragment, index) => {
    ws.send(fragment, { binary: message.binary, fin: index === message.fragments.length - 1 });
  });
}

function sendFromGale(connection: Connection, message: TestMessage): void {
  const [first] = message.fragments;
  if (message.fragments.length > 1) {
    connection.sendFragments(message.binary ? 'binary' : 'text', message.fragments);
  } else if (message.binary) connection.sendBinary(first!);
  else connection.sendText(first!);
}

const WORDS =
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua'.split(
    ' ',
  );
// One to four UTF-8 bytes each, astral characters included.
const UNICODE = ['a', ' ', 'é', 'ß', 'Ω', '中', '文', '✓', '😀', '🎉', '𝄞', '𐍈', '\n'];

function randomBytes(random: () => number, size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** Text of about `size` UTF-8 bytes from `pieces`, truncated on a character boundary. */
function textOf(random: () => number, size: number, pieces: readonly string[]): Buffer {
  let text = '';
  let length = 0;
  while (length < size) {
    const piece = pick(random, pieces);
    text += piece;
    length += Buffer.byteLength(piece);
  }
  return Buffer.from(text, 'utf8');
}

/** JSON records with the same keys: highly compressible, as chat or API traffic. */
function jsonOf(random: () => number, size: number): Buffer {
  const records: string[] = [];
  let length = 2;
  for (let id = 0; length < size; id++) {
    const record = JSON.stringify({
      id,
      user: `user-${Math.floor(random() * 1000)}`,
      text: pick(random, WORDS),
      tags: ['alpha', 'beta'],
      active: random() < 0.5,
    });
    records.push(record);
    length += record.length + 1;
  }
  return Buffer.from(`[${records.join(',')}]`, 'utf8');
}

/**
 * Binary data made of 64-byte blocks that are either random or copies of an earlier block up to
 * 64 KiB back: compressible, with match distances beyond every LZ77 window size.
 */
function patternedOf(random: () => number, size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let at = 0; at < size; at += 64) {
    const length = Math.min(64, size - at);
    if (at >= 64 && random() < 0.8) {
      const back = 64 * (1 + Math.floor(random() * Math.min(at / 64, 1024)));
      bytes.copy(bytes, at, at - back, at - back + length);
    } else {
      randomBytes(random, length).copy(bytes, at);
    }
  }
  return bytes;
}

/** Sizes spread over 1 B to 100 KB, evenly on a log scale. */
function sizeOf(random: () => number): number {
  return Math.floor(Math.exp(random() * Math.log(100_000)));
}

/** Splits `data` at one to three random points: the cuts may fall inside UTF-8 characters. */
function fragment(random: () => number, data: Buffer): Buffer[] {
  const cuts = new Set<number>();
  const count = 1 + Math.floor(random() * 3);
  for (let i = 0; i < count; i++) cuts.add(Math.floor(random() * (data.length + 1)));
  const points = [0, ...[...cuts].sort((a, b) => a - b), data.length];
  return points.slice(1).map((end, i) => data.subarray(points[i]!, end));
}

/**
 * Fifty messages of varied content, seeded: empty ones, JSON, prose, Unicode text, random and
 * zero bytes, patterned binary, immediate repeats (context takeover pays off), one of 1 MiB, and
 * ten sent in fragments.
 */
function variedMessages(seed: number): TestMessage[] {
  const random = prng(seed);
  const messages: TestMessage[] = [
    { binary: false, fragments: [Buffer.alloc(0)] },
    { binary: true, fragments: [Buffer.alloc(0)] },
  ];
  while (messages.length < 50) {
    const index = messages.length;
    let binary: boolean;
    let data: Buffer;
    if (index === 25) {
      binary = true;
      data = patternedOf(random, 1024 * 1024);
    } else {
      const size = sizeOf(random);
      switch (index % 7) {
        case 0:
          [binary, data] = [false, jsonOf(random, size)];
          break;
        case 1:
          [binary, data] = [
            false,
            textOf(
              random,
              size,
              WORDS.map((word) => `${word} `),
            ),
          ];
          break;
        case 2:
          [binary, data] = [false, textOf(random, size, UNICODE)];
          break;
        case 3:
          [binary, data] = [true, randomBytes(random, size)];
          break;
        case 4:
          [binary, data] = [true, Buffer.alloc(size)];
          break;
        case 5:
          [binary, data] = [true, patternedOf(random, size)];
          break;
        default: {
          // The previous message again.
          const previous = messages.at(-1)!;
          [binary, data] = [previous.binary, Buffer.concat(previous.fragments)];
        }
      }
    }
    // Every fifth message is fragmented, which meets every kind of content in turn.
    messages.push({ binary, fragments: index % 5 === 2 ? fragment(random, data) : [data] });
  }
  return messages;
}

function totalSize(messages: readonly TestMessage[]): number {
  return messages.reduce((sum, message) => sum + Buffer.concat(message.fragments).length, 0);
}

/** Text of exactly `size` UTF-8 bytes, with characters of every UTF-8 length. */
function largeText(size: number): string {
  const text = textOf(prng(size), size - 4, UNICODE).toString('utf8');
  return text + 'x'.repeat(size - Buffer.byteLength(text));
}

const FOUR_MIB = 4 * 1024 * 1024;
// Two- to four-byte characters, astral ones, the largest code point, a noncharacter and a leading
// BOM, which a decoder must keep.
const UNICODE_TEXT = '\uFEFFhéllo wörld ✓ 中文 😀🎉 𝄞 𐍈 \uFFFF \u{10FFFF}';
// "Hello, wörld 😀" cut inside "ö" and inside the emoji: only the whole message is valid UTF-8.
const HELLO = 'Hello, wörld 😀';
const HELLO_BYTES = Buffer.from(HELLO, 'utf8');
const HELLO_FRAGMENTS = [
  HELLO_BYTES.subarray(0, 9),
  HELLO_BYTES.subarray(9, 16),
  HELLO_BYTES.subarray(16),
];
const BINARY_FRAGMENTS = [Buffer.from([0, 1, 2]), Buffer.alloc(0), Buffer.from([0xff, 0xfe])];

function expectText(event: ProtocolEvent, text: string): void {
  expect(event).toEqual({ type: 'text', data: text });
}

function expectBinary(event: ProtocolEvent, data: Uint8Array): void {
  expect(event.type).toBe('binary');
  if (event.type === 'binary') expect(Buffer.from(event.data).equals(data)).toBe(true);
}

function expectEvent(event: ProtocolEvent, type: 'ping' | 'pong', data: Uint8Array): void {
  const seen =
    event.type === 'ping' || event.type === 'pong'
      ? { type: event.type, data: Buffer.from(event.data).toString('hex') }
      : event;
  expect(seen).toEqual({ type, data: Buffer.from(data).toString('hex') });
}

// ---------------------------------------------------------------------------------------------

describe('a ws client against the gale server', () => {
  it('gets ASCII text echoed as text', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port);
    client.ws.send('Hello, world!');
    expect(await client.nextMessage()).toEqual({
      data: Buffer.from('Hello, world!'),
      isBinary: false,
    });
  });

  it('gets Unicode text with astral characters echoed intact', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port);
    client.ws.send(UNICODE_TEXT);
    const echo = await client.nextMessage();
    expect(echo.isBinary).toBe(false);
    expect(echo.data.toString('utf8')).toBe(UNICODE_TEXT);
    const connection = await server.nextConnection();
    expectText(await connection.nextEvent(), UNICODE_TEXT);
  });

  it('gets binary echoed as binary', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port);
    const data = Buffer.from([0x00, 0xff, 0x80, 0x7f, 0xc3, 0x28]);
    client.ws.send(data);
    expect(await client.nextMessage()).toEqual({ data, isBinary: true });
  });

  it('gets an empty text message and an empty binary message echoed', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port);
    client.ws.send('');
    client.ws.send(Buffer.alloc(0));
    expect(await client.nextMessage()).toEqual({ data: Buffer.alloc(0), isBinary: false });
    expect(await client.nextMessage()).toEqual({ data: Buffer.alloc(0), isBinary: true });
  });

  it('has a message it sends in fragments received as one message', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port);
    sendFromWs(client.ws, { binary: false, fragments: HELLO_FRAGMENTS });
    sendFromWs(client.ws, { binary: true, fragments: BINARY_FRAGMENTS });
    const connection = await server.nextConnection();
    expectText(await connection.nextEvent(), HELLO);
    expectBinary(await connection.nextEvent(), Buffer.concat(BINARY_FRAGMENTS));
    expect(await client.nextMessage()).toEqual({ data: HELLO_BYTES, isBinary: false });
    expect(await client.nextMessage()).toEqual({
      data: Buffer.concat(BINARY_FRAGMENTS),
      isBinary: true,
    });
  });

  it('may send a ping between the fragments of a message', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port);
    client.ws.send(HELLO_FRAGMENTS[0]!, { binary: false, fin: false });
    client.ws.ping(Buffer.from('in between'));
    client.ws.send(HELLO_FRAGMENTS[1]!, { binary: false, fin: false });
    client.ws.send(HELLO_FRAGMENTS[2]!, { binary: false, fin: true });
    expect((await client.nextPong()).toString()).toBe('in between');
    expect(await client.nextMessage()).toEqual({ data: HELLO_BYTES, isBinary: false });
    const connection = await server.nextConnection();
    expectEvent(await connection.nextEvent(), 'ping', Buffer.from('in between'));
    expectText(await connection.nextEvent(), HELLO);
  });

  it('receives a message the gale server sends in fragments as one message', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port);
    const connection = await server.nextConnection();
    connection.sendFragments('text', HELLO_FRAGMENTS);
    connection.sendFragments('binary', BINARY_FRAGMENTS);
    expect(await client.nextMessage()).toEqual({ data: HELLO_BYTES, isBinary: false });
    expect(await client.nextMessage()).toEqual({
      data: Buffer.concat(BINARY_FRAGMENTS),
      isBinary: true,
    });
  });

  it(
    'gets a 4 MiB binary message and a 4 MiB text message echoed',
    async () => {
      const server = await startGaleServer();
      const client = await openWsClient(server.port);
      const binary = randomBytes(prng(1), FOUR_MIB);
      const text = largeText(FOUR_MIB);
      client.ws.send(binary);
      client.ws.send(text);
      expect(digestOfWsMessage(await client.nextMessage())).toEqual(digest(true, binary));
      expect(digestOfWsMessage(await client.nextMessage())).toEqual(digest(false, text));
      const connection = await server.nextConnection();
      expect(digestOfEvent(await connection.nextEvent())).toEqual(digest(true, binary));
      expect(digestOfEvent(await connection.nextEvent())).toEqual(digest(false, text));
    },
    LARGE_TIMEOUT,
  );

  it('gets a pong carrying the payload of its ping', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port);
    client.ws.ping(Buffer.from('are you there? ✓'));
    expect((await client.nextPong()).toString()).toBe('are you there? ✓');
    const connection = await server.nextConnection();
    expectEvent(await connection.nextEvent(), 'ping', Buffer.from('are you there? ✓'));
  });

  it('answers a ping from the gale server with a pong carrying its payload', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port);
    const connection = await server.nextConnection();
    connection.ping(Buffer.from('heartbeat'));
    expect((await client.nextPing()).toString()).toBe('heartbeat');
    expectEvent(await connection.nextEvent(), 'pong', Buffer.from('heartbeat'));
  });

  it('closes with 4001 and a reason: the server records both and echoes 4001', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port);
    const connection = await server.nextConnection();
    client.ws.close(4001, 'bye ✓');
    expect(await client.closed).toEqual({ code: 4001, reason: '' });
    expect(await connection.closed).toEqual({ code: 4001, reason: 'bye ✓' });
    expect(connection.protocol.error).toBeNull();
  });

  it('closes without a code: both ends report 1005', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port);
    const connection = await server.nextConnection();
    client.ws.close();
    expect(await client.closed).toEqual({ code: 1005, reason: '' });
    expect(await connection.closed).toEqual({ code: 1005, reason: '' });
  });

  it('gets 4002 and its reason when the gale server closes', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port);
    const connection = await server.nextConnection();
    const serverClosed = connection.close(4002, 'later');
    expect(await client.closed).toEqual({ code: 4002, reason: 'later' });
    expect(await serverClosed).toEqual({ code: 4002, reason: 'later' });
  });

  it("gets 1009 for a message over the server's maxMessageSize", async () => {
    const server = await startGaleServer({ maxMessageSize: 1000 });
    const client = await openWsClient(server.port);
    client.ws.send(Buffer.alloc(1001));
    expect((await client.closed).code).toBe(1009);
    const connection = await server.nextConnection();
    expect(await connection.closed).toEqual({ code: 1006, reason: '' });
    expect(connection.protocol.error?.code).toBe('ERR_MESSAGE_TOO_BIG');
  });

  it('gets the subprotocol the server picks: b, of a and b', async () => {
    const server = await startGaleServer({ subprotocols: ['b'] });
    const client = await openWsClient(server.port, ['a', 'b']);
    expect(client.ws.protocol).toBe('b');
    expect((await server.nextConnection()).subprotocol).toBe('b');
  });

  it('has its permessage-deflate offer declined by a server configured without it', async () => {
    const server = await startGaleServer();
    const client = await openWsClient(server.port, [], { perMessageDeflate: true });
    expect(client.response.headers['sec-websocket-extensions']).toBeUndefined();
    expect(client.ws.extensions).toBe('');
    client.ws.send('uncompressed');
    expect((await client.nextMessage()).data.toString()).toBe('uncompressed');
  });
});

describe('the gale client against a ws server', () => {
  it('gets ASCII text echoed as text', async () => {
    const server = await startWsServer();
    const client = await connectGaleClient(server.port);
    client.sendText('Hello, world!');
    expectText(await client.nextEvent(), 'Hello, world!');
  });

  it('gets Unicode text with astral characters echoed intact', async () => {
    const server = await startWsServer();
    const client = await connectGaleClient(server.port);
    client.sendText(UNICODE_TEXT);
    expectText(await client.nextEvent(), UNICODE_TEXT);
    const peer = await server.nextConnection();
    expect(await peer.nextMessage()).toEqual({ data: Buffer.from(UNICODE_TEXT), isBinary: false });
  });

  it('gets binary echoed as binary', async () => {
    const server = await startWsServer();
    const client = await connectGaleClient(server.port);
    const data = Buffer.from([0x00, 0xff, 0x80, 0x7f, 0xc3, 0x28]);
    client.sendBinary(data);
    expectBinary(await client.nextEvent(), data);
  });

  it('gets an empty text message and an empty binary message echoed', async () => {
    const server = await startWsServer();
    const client = await connectGaleClient(server.port);
    client.sendText('');
    client.sendBinary(new Uint8Array(0));
    expectText(await client.nextEvent(), '');
    expectBinary(await client.nextEvent(), new Uint8Array(0));
  });

  it('has a message it sends in fragments received as one message', async () => {
    const server = await startWsServer();
    const client = await connectGaleClient(server.port);
    client.sendFragments('text', HELLO_FRAGMENTS);
    client.sendFragments('binary', BINARY_FRAGMENTS);
    const peer = await server.nextConnection();
    expect(await peer.nextMessage()).toEqual({ data: HELLO_BYTES, isBinary: false });
    expect(await peer.nextMessage()).toEqual({
      data: Buffer.concat(BINARY_FRAGMENTS),
      isBinary: true,
    });
    expectText(await client.nextEvent(), HELLO);
    expectBinary(await client.nextEvent(), Buffer.concat(BINARY_FRAGMENTS));
  });

  it('may send a ping between the fragments of a message', async () => {
    const server = await startWsServer();
    const client = await connectGaleClient(server.port);
    client.protocol.sendText(HELLO_FRAGMENTS[0]!, false);
    client.protocol.sendPing(Buffer.from('in between'));
    client.protocol.sendContinuation(HELLO_FRAGMENTS[1]!, false);
    client.protocol.sendContinuation(HELLO_FRAGMENTS[2]!, true);
    client.flush();
    expectEvent(await client.nextEvent(), 'pong', Buffer.from('in between'));
    expectText(await client.nextEvent(), HELLO);
    const peer = await server.nextConnection();
    expect((await peer.nextPing()).toString()).toBe('in between');
    expect(await peer.nextMessage()).toEqual({ data: HELLO_BYTES, isBinary: false });
  });

  it('receives a message the ws server sends in fragments as one message', async () => {
    const server = await startWsServer();
    const client = await connectGaleClient(server.port);
    const peer = await server.nextConnection();
    sendFromWs(peer.ws, { binary: false, fragments: HELLO_FRAGMENTS });
    sendFromWs(peer.ws, { binary: true, fragments: BINARY_FRAGMENTS });
    expectText(await client.nextEvent(), HELLO);
    expectBinary(await client.nextEvent(), Buffer.concat(BINARY_FRAGMENTS));
  });

  it(
    'gets a 4 MiB binary message and a 4 MiB text message echoed',
    async () => {
      const server = await startWsServer();
      const client = await connectGaleClient(server.port);
      const binary = randomBytes(prng(2), FOUR_MIB);
      const text = largeText(FOUR_MIB);
      client.sendBinary(binary);
      client.sendText(text);
      const peer = await server.nextConnection();
      expect(digestOfWsMessage(await peer.nextMessage())).toEqual(digest(true, binary));
      expect(digestOfWsMessage(await peer.nextMessage())).toEqual(digest(false, text));
      expect(digestOfEvent(await client.nextEvent())).toEqual(digest(true, binary));
      expect(digestOfEvent(await client.nextEvent())).toEqual(digest(false, text));
    },
    LARGE_TIMEOUT,
  );

  it('gets a pong carrying the payload of its ping', async () => {
    const server = await startWsServer();
    const client = await connectGaleClient(server.port);
    client.ping(Buffer.from('are you there? ✓'));
    expectEvent(await client.nextEvent(), 'pong', Buffer.from('are you there? ✓'));
    const peer = await server.nextConnection();
    expect((await peer.nextPing()).toString()).toBe('are you there? ✓');
  });

  it('answers a ping from the ws server with a pong carrying its payload', async () => {
    const server = await startWsServer();
    const client = await connectGaleClient(server.port);
    const peer = await server.nextConnection();
    peer.ws.ping(Buffer.from('heartbeat'));
    expect((await peer.nextPong()).toString()).toBe('heartbeat');
    expectEvent(await client.nextEvent(), 'ping', Buffer.from('heartbeat'));
  });

  it('records 4001 and the reason when the ws server closes, and echoes 4001', async () => {
    const server = await startWsServer();
    const client = await connectGaleClient(server.port);
    const peer = await server.nextConnection();
    peer.ws.close(4001, 'bye ✓');
    expect(await client.nextEvent()).toEqual({ type: 'close', code: 4001, reason: 'bye ✓' });
    expect(await client.closed).toEqual({ code: 4001, reason: 'bye ✓' });
    expect(await peer.closed).toEqual({ code: 4001, reason: '' });
    expect(client.protocol.error).toBeNull();
  });

  it('closes without a code: both ends report 1005', async () => {
    const server = await startWsServer();
    const client = await connectGaleClient(server.port);
    const peer = await server.nextConnection();
    expect(await client.close()).toEqual({ code: 1005, reason: '' });
    expect(await peer.closed).toEqual({ code: 1005, reason: '' });
  });

  it('closes with 4002 and a reason that the ws server receives', async () => {
    const server = await startWsServer();
    const client = await connectGaleClient(server.port);
    const peer = await server.nextConnection();
    const clientClosed = client.close(4002, 'later');
    expect(await peer.closed).toEqual({ code: 4002, reason: 'later' });
    expect(await clientClosed).toEqual({ code: 4002, reason: 'later' });
    expect(client.protocol.error).toBeNull();
  });

  it('gets the subprotocol the server picks: b, of a and b', async () => {
    const server = await startWsServer({
      handleProtocols: (protocols) => (protocols.has('b') ? 'b' : false),
    });
    const client = await connectGaleClient(server.port, { subprotocols: ['a', 'b'] });
    expect(client.subprotocol).toBe('b');
    expect((await server.nextConnection()).ws.protocol).toBe('b');
  });
});

// ---------------------------------------------------------------------------------------------

type DeflateParams = Pick<
  DeflateOptions,
  | 'serverNoContextTakeover'
  | 'clientNoContextTakeover'
  | 'serverMaxWindowBits'
  | 'clientMaxWindowBits'
>;

const deflateCases: ReadonlyArray<{
  readonly name: string;
  readonly params: DeflateParams;
  readonly header: string;
}> = [
  { name: 'default parameters', params: {}, header: 'permessage-deflate' },
  {
    name: 'server_no_context_takeover',
    params: { serverNoContextTakeover: true },
    header: 'permessage-deflate; server_no_context_takeover',
  },
  {
    name: 'client_no_context_takeover',
    params: { clientNoContextTakeover: true },
    header: 'permessage-deflate; client_no_context_takeover',
  },
  {
    name: 'server_max_window_bits=10',
    params: { serverMaxWindowBits: 10 },
    header: 'permessage-deflate; server_max_window_bits=10',
  },
  {
    name: 'client_max_window_bits=10',
    params: { clientMaxWindowBits: 10 },
    header: 'permessage-deflate; client_max_window_bits=10',
  },
  {
    name: 'all parameters together',
    params: {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 10,
    },
    header:
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; ' +
      'server_max_window_bits=10; client_max_window_bits=10',
  },
];

/** The parameters both ends must have agreed on. */
function agreedParams(params: DeflateParams): unknown {
  return {
    serverNoContextTakeover: params.serverNoContextTakeover ?? false,
    clientNoContextTakeover: params.clientNoContextTakeover ?? false,
    serverMaxWindowBits: params.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: params.clientMaxWindowBits ?? 15,
  };
}

const VARIED_MESSAGES = variedMessages(7692);
const VARIED_DIGESTS = VARIED_MESSAGES.map(digestOfMessage);
const VARIED_SIZE = totalSize(VARIED_MESSAGES);

describe.each(deflateCases)('permessage-deflate with $name', ({ params, header }) => {
  it(
    'is negotiated by a ws client and carries 50 messages both ways',
    async () => {
      const server = await startGaleServer({ deflate: { threshold: 0, ...params } });
      const client = await openWsClient(server.port, [], {
        perMessageDeflate: { threshold: 0, ...params },
      });
      expect(client.response.headers['sec-websocket-extensions']).toBe(header);
      expect(client.ws.extensions).toBe('permessage-deflate');
      const connection = await server.nextConnection();
      expect(connection.extensions).toBe(header);
      expect(connection.deflate?.params).toEqual(agreedParams(params));

      for (const message of VARIED_MESSAGES) sendFromWs(client.ws, message);
      const echoed: MessageDigest[] = [];
      for (const _ of VARIED_MESSAGES) echoed.push(digestOfWsMessage(await client.nextMessage()));
      expect(echoed).toEqual(VARIED_DIGESTS);
      expect(connection.events.map(digestOfEvent)).toEqual(VARIED_DIGESTS);
      // Both directions were compressed: fewer bytes crossed than the messages hold (about 35%
      // with 15-bit windows, 75% with 10-bit ones on this data).
      expect(connection.bytesRead).toBeLessThan(VARIED_SIZE * 0.9);
      expect(connection.bytesWritten).toBeLessThan(VARIED_SIZE * 0.9);
    },
    LARGE_TIMEOUT,
  );

  it(
    'is negotiated by the gale client with a ws server and carries 50 messages both ways',
    async () => {
      const server = await startWsServer({ perMessageDeflate: { threshold: 0, ...params } });
      const client = await connectGaleClient(server.port, { deflate: { threshold: 0, ...params } });
      expect(client.extensions).toBe(header);
      expect(client.deflate?.params).toEqual(agreedParams(params));
      const peer = await server.nextConnection();
      expect(peer.ws.extensions).toBe('permessage-deflate');

      for (const message of VARIED_MESSAGES) sendFromGale(client, message);
      const echoed: MessageDigest[] = [];
      for (const _ of VARIED_MESSAGES) echoed.push(digestOfEvent(await client.nextEvent()));
      expect(echoed).toEqual(VARIED_DIGESTS);
      const received: MessageDigest[] = [];
      for (const _ of VARIED_MESSAGES) received.push(digestOfWsMessage(await peer.nextMessage()));
      expect(received).toEqual(VARIED_DIGESTS);
      expect(client.bytesRead).toBeLessThan(VARIED_SIZE * 0.9);
      expect(client.bytesWritten).toBeLessThan(VARIED_SIZE * 0.9);
    },
    LARGE_TIMEOUT,
  );
});

describe('permessage-deflate against maxMessageSize', () => {
  it('fails with 1009 a compressed message that inflates past the limit', async () => {
    const server = await startGaleServer({ deflate: {}, maxMessageSize: 1024 * 1024 });
    const client = await openWsClient(server.port, [], { perMessageDeflate: { threshold: 0 } });
    // 2 MiB of zeros deflate to about 2 KiB: only the inflated size can refuse it.
    client.ws.send(Buffer.alloc(2 * 1024 * 1024));
    expect((await client.closed).code).toBe(1009);
    const connection = await server.nextConnection();
    expect(connection.protocol.error?.code).toBe('ERR_MESSAGE_TOO_BIG');
    expect(connection.bytesRead).toBeLessThan(64 * 1024);
  });
});

// ---------------------------------------------------------------------------------------------

/** A masked client frame with a short payload, built by hand. */
function clientFrame(firstByte: number, payload: Uint8Array): Buffer {
  const mask = [0x37, 0xfa, 0x21, 0x3d];
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([firstByte, 0x80 | payload.length, ...mask]), masked]);
}

/** What a raw socket got back: the response head and every frame after it. */
interface RawReply {
  readonly statusLine: string;
  readonly frames: ReadonlyArray<{ readonly opcode: number; readonly payload: Buffer }>;
}

/**
 * Opens a raw TCP connection, sends a valid opening handshake followed at once by `bytes`, and
 * resolves with what came back once the server closed the TCP connection.
 */
function sendRaw(port: number, bytes: Uint8Array): Promise<RawReply> {
  const socket = netConnect({ host: '127.0.0.1', port });
  cleanups.push(async () => {
    socket.destroy();
  });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const { head } = createRequest({ host: `127.0.0.1:${port}`, path: '/' });
  socket.write(Buffer.concat([Buffer.from(head, 'latin1'), bytes]));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('end', () => {
      const data = Buffer.concat(chunks);
      const headEnd = data.indexOf('\r\n\r\n');
      const frames: Array<{ opcode: number; payload: Buffer }> = [];
      let at = headEnd + 4;
      while (at < data.length) {
        // Server frames are unmasked; the ones expected here are short.
        const length = data[at + 1]!;
        if (length > 125) return reject(new Error(`unexpected frame header ${data[at + 1]}`));
        frames.push({ opcode: data[at]!, payload: data.subarray(at + 2, at + 2 + length) });
        at += 2 + length;
      }
      resolve({ statusLine: data.toString('latin1', 0, data.indexOf('\r\n')), frames });
    });
  });
}

/**
 * Asserts that the server failed the WebSocket connection (RFC 6455 §7.1.7): its last frame is a
 * Close with `closeCode`, after which it closed the TCP connection (sendRaw resolves on that).
 */
function expectConnectionFailed(reply: RawReply, closeCode: number): void {
  expect(reply.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
  const last = reply.frames.at(-1);
  expect(last?.opcode).toBe(0x88);
  expect(last?.payload.readUInt16BE(0)).toBe(closeCode);
}

const badInputs = [
  {
    name: 'a 64-bit payload length with the most significant bit set',
    bytes: Buffer.from('82ff800000000000000137fa213d', 'hex'),
    closeCode: 1002,
    errorCode: 'ERR_INVALID_LENGTH',
  },
  {
    name: 'an unmasked frame',
    bytes: Buffer.from('81026869', 'hex'),
    closeCode: 1002,
    errorCode: 'ERR_EXPECTED_MASK',
  },
  {
    // "κόσμε" followed by an encoded surrogate, U+D800 (Autobahn case 6.4.x).
    name: 'a text message that is not valid UTF-8',
    bytes: clientFrame(0x81, Buffer.from('cebae1bdb9cf83cebcceb5eda080656469746564', 'hex')),
    closeCode: 1007,
    errorCode: 'ERR_INVALID_UTF8',
  },
];

describe('the gale server given bad input on a raw socket', () => {
  it.each(badInputs)(
    'fails the connection with $closeCode for $name, then still serves a ws client',
    async ({ bytes, closeCode, errorCode }) => {
      const server = await startGaleServer();
      expectConnectionFailed(await sendRaw(server.port, bytes), closeCode);
      const connection = await server.nextConnection();
      expect(await connection.closed).toEqual({ code: 1006, reason: '' });
      expect(connection.protocol.error?.code).toBe(errorCode);
      expect(connection.protocol.error?.closeCode).toBe(closeCode);

      const client = await openWsClient(server.port);
      client.ws.send('still there?');
      expect((await client.nextMessage()).data.toString()).toBe('still there?');
    },
  );
});
