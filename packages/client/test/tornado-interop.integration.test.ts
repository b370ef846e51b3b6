import { randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { assertTornado, type PeerProcess, PYTHON, startPeer } from '@gale/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HandshakeError, websocketConnect } from '../src/index.node.ts';
import { closeAfterEach } from './close-after-each.ts';

// The gale client against Tornado's own WebSocket server (@gale/test-utils's
// peers/tornado_echo.py: /echo echoes exactly and accepts permessage-deflate).

const ECHO_SERVER = fileURLToPath(import.meta.resolve('@gale/test-utils/peers/tornado_echo.py'));
const MiB = 1024 * 1024;

let tornado: PeerProcess | undefined;
let tornadoPort = 0;

// A TCP proxy in front of Tornado that counts the bytes going each way and keeps the start of
// what the server sent, so that tests can see the wire (compression, the 101's headers).
interface Tap {
  toServer: number;
  toClient: number;
  head: string;
}
let proxy: Server | undefined;
let proxyPort = 0;
const taps: Tap[] = [];
const proxySockets = new Set<Socket>();

beforeAll(async () => {
  assertTornado(); // missing Tornado fails this file, never skips it

  tornado = await startPeer(
    PYTHON,
    [ECHO_SERVER, '0', '--subprotocols', 'chat,superchat', '--reject-origin'],
    { timeoutMs: 20_000 },
  );
  tornadoPort = tornado.port;

  proxy = createServer((client) => {
    const tap: Tap = { toServer: 0, toClient: 0, head: '' };
    taps.push(tap);
    const upstream = connect(tornadoPort, '127.0.0.1');
    proxySockets.add(client);
    proxySockets.add(upstream);
    client.on('data', (chunk: Buffer) => {
      tap.toServer += chunk.length;
    });
    upstream.on('data', (chunk: Buffer) => {
      tap.toClient += chunk.length;
      if (tap.head.length < 4096) tap.head += chunk.subarray(0, 4096).toString('latin1');
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  proxyPort = await new Promise<number>((resolve) => {
    proxy!.listen(0, '127.0.0.1', () => resolve((proxy!.address() as AddressInfo).port));
  });
});

afterAll(async () => {
  for (const socket of proxySockets) socket.destroy();
  if (proxy) await new Promise<void>((resolve) => proxy!.close(() => resolve()));
  await tornado?.stop();
});

const track = closeAfterEach();

async function open(options: Parameters<typeof websocketConnect>[1] = {}, port = tornadoPort) {
  return track(await websocketConnect(`ws://127.0.0.1:${port}/echo`, options));
}

function sameBytes(a: string | Uint8Array | null, b: Uint8Array): boolean {
  return a instanceof Uint8Array && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

describe('against Tornado', () => {
  it('echoes a text message', async () => {
    const connection = await open();
    await connection.writeMessage('hello tornado');
    expect(await connection.readMessage()).toBe('hello tornado');
  });

  it('echoes a binary message with its exact bytes', async () => {
    const connection = await open();
    const bytes = new Uint8Array(256).map((_, i) => i);
    await connection.writeMessage(bytes);
    const echoed = await connection.readMessage();
    expect(echoed).toBeInstanceOf(Uint8Array);
    expect(sameBytes(echoed, bytes)).toBe(true);
  });

  it('echoes unicode text', async () => {
    const connection = await open();
    const text = 'héllo — 日本語 — 🎉👍🏽 — \u{10348}';
    await connection.writeMessage(text);
    expect(await connection.readMessage()).toBe(text);
    await connection.writeMessage({ text });
    expect(await connection.readJson()).toEqual({ text });
  });

  it('echoes a 4 MiB binary message', async () => {
    const connection = await open();
    const bytes = new Uint8Array(randomBytes(4 * MiB));
    await connection.writeMessage(bytes);
    const echoed = await connection.readMessage();
    expect((echoed as Uint8Array).byteLength).toBe(4 * MiB);
    expect(sameBytes(echoed, bytes)).toBe(true);
  });

  it('negotiates permessage-deflate and compresses both ways', async () => {
    const tapsBefore = taps.length;
    const connection = await open({ compression: true }, proxyPort);
    const tap = taps[tapsBefore] as Tap;
    expect(tap.head).toMatch(/^HTTP\/1\.1 101/);
    expect(tap.head).toMatch(/\r\nsec-websocket-extensions: permessage-deflate/i);
    const sentBefore = tap.toServer;
    const receivedBefore = tap.toClient;
    const text = 'tornado '.repeat(MiB / 8);
    await connection.writeMessage(text);
    expect(await connection.readMessage()).toBe(text);
    // 1 MiB of one word deflates to a few KiB each way.
    expect(tap.toServer - sentBefore).toBeLessThan(64 * 1024);
    expect(tap.toClient - receivedBefore).toBeLessThan(64 * 1024);
    const bytes = new Uint8Array(randomBytes(200_000));
    await connection.writeMessage(bytes);
    expect(sameBytes(await connection.readMessage(), bytes)).toBe(true);
  });

  it('does not offer permessage-deflate without compression', async () => {
    const tapsBefore = taps.length;
    const connection = await open({}, proxyPort);
    const tap = taps[tapsBefore] as Tap;
    expect(tap.head).not.toMatch(/sec-websocket-extensions/i);
    const text = 'tornado '.repeat(16 * 1024);
    const sentBefore = tap.toServer;
    await connection.writeMessage(text);
    expect(await connection.readMessage()).toBe(text);
    expect(tap.toServer - sentBefore).toBeGreaterThan(text.length);
  });

  it('closes with the code it chose, which Tornado echoes', async () => {
    const connection = await open();
    await connection.close(4002, 'later');
    expect(connection.state).toBe('closed');
    expect(connection.closeCode).toBe(4002);
    // Tornado echoes the code without a reason.
    expect(connection.closeReason).toBeNull();
    expect(await connection.readMessage()).toBeNull();
  });

  it('agrees on the subprotocol Tornado selects, and on none when none is offered', async () => {
    const offered = await open({ subprotocols: ['nope', 'superchat', 'chat'] });
    expect(offered.selectedSubprotocol).toBe('superchat');
    await offered.writeMessage('with a subprotocol');
    expect(await offered.readMessage()).toBe('with a subprotocol');
    const none = await open();
    expect(none.selectedSubprotocol).toBeNull();
    const unknown = await open({ subprotocols: ['nope'] });
    expect(unknown.selectedSubprotocol).toBeNull();
  });

  it('rejects a foreign origin with HandshakeError 403', async () => {
    const error = await websocketConnect(`ws://127.0.0.1:${tornadoPort}/echo`, {
      origin: 'http://evil.example',
    }).then(
      () => null,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).status).toBe(403);
  });

  it('rejects an unknown path with HandshakeError 404', async () => {
    const error = await websocketConnect(`ws://127.0.0.1:${tornadoPort}/nowhere`).then(
      () => null,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).status).toBe(404);
  });
});
