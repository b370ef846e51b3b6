import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  Socket as NetSocket,
  type Socket,
} from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Application, HTTPError, silentLogger, WebSocketHandler } from '@gale/server';
import { Inbox, ManualClock, serve } from '@gale/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WsSocket from 'ws';
import { WebSocketServer } from 'ws';
import {
  AbortError,
  type ClientConnection,
  type CloseInfo,
  ConnectionError,
  type ConnectionState,
  ConnectTimeoutError,
  createConnection,
  HandshakeError,
  InvalidStateError,
  WebSocketClosedError,
  websocketConnect,
} from '../src/index.node.ts';
import { closeAfterEach } from './close-after-each.ts';

// The Node build of @gale/client against two servers it must interoperate with: ws 8 (the
// reference implementation) and @gale/server. Every test opens its own connection and identifies
// it to the server with `?id=`, so that the server side of exactly that connection (a `Peer`) can
// be inspected and driven.

const MiB = 1024 * 1024;
/** Subprotocols both servers accept; each selects the first one the client offers in this list. */
const ACCEPTED_SUBPROTOCOLS = ['chat', 'superchat'];
/** An Origin both servers refuse with 403. */
const FOREIGN_ORIGIN = 'http://evil.example';

// ─── The server side of one connection ───────────────────────────────────────────────────────

interface ServerMessage {
  readonly data: string | Uint8Array;
  readonly binary: boolean;
}

interface PeerClose {
  readonly code: number | null;
  readonly reason: string | null;
}

/** What a server saw of one connection, and how a test drives it. */
interface Peer {
  readonly headers: IncomingHttpHeaders;
  readonly socket: Duplex;
  readonly subprotocol: string | null;
  readonly messages: Inbox<ServerMessage>;
  readonly pings: Inbox<Uint8Array>;
  readonly pongs: Inbox<Uint8Array>;
  readonly closed: Promise<PeerClose>;
  send(data: string | Uint8Array): Promise<void>;
  close(code: number, reason: string): void;
  ping(data: string): void;
}

interface PeerParts {
  headers: IncomingHttpHeaders;
  subprotocol: string | null;
  send(data: string | Uint8Array): Promise<void>;
  close(code: number, reason: string): void;
  ping(data: string): void;
}

/** Connections by their `?id=`: the upgrade socket first, then the rest once the server opened it. */
class Peers {
  readonly #sockets = new Map<string, Duplex>();
  readonly #peers = new Map<string, Peer>();
  readonly #waiting = new Map<string, Array<(peer: Peer) => void>>();
  readonly #closers = new Map<string, (close: PeerClose) => void>();

  static idOf(url: string | undefined): string | null {
    return new URL(url ?? '/', 'http://x').searchParams.get('id');
  }

  upgrading(url: string | undefined, socket: Duplex): void {
    const id = Peers.idOf(url);
    if (id !== null) this.#sockets.set(id, socket);
  }

  opened(id: string | null, parts: PeerParts): Peer | undefined {
    if (id === null) return undefined;
    let resolveClosed!: (close: PeerClose) => void;
    const sockets = this.#sockets;
    const peer: Peer = {
      ...parts,
      // Read on demand: a server may open the connection before the test's upgrade listener ran.
      get socket() {
        return sockets.get(id) as Duplex;
      },
      messages: new Inbox(),
      pings: new Inbox(),
      pongs: new Inbox(),
      closed: new Promise((resolve) => {
        resolveClosed = resolve;
      }),
    };
    this.#closers.set(id, resolveClosed);
    this.#peers.set(id, peer);
    for (const resolve of this.#waiting.get(id) ?? []) resolve(peer);
    this.#waiting.delete(id);
    return peer;
  }

  closed(id: string | null, close: PeerClose): void {
    if (id !== null) this.#closers.get(id)?.(close);
  }

  get(id: string): Promise<Peer> {
    const peer = this.#peers.get(id);
    if (peer) return Promise.resolve(peer);
    return new Promise((resolve) => {
      const waiting = this.#waiting.get(id) ?? [];
      waiting.push(resolve);
      this.#waiting.set(id, waiting);
    });
  }
}

interface TestServer {
  readonly port: number;
  readonly peers: Peers;
  stop(): Promise<void>;
}

/** The first offered subprotocol the servers accept (Tornado's select_subprotocol rule). */
function selectSubprotocol(offered: Iterable<string>): string | null {
  for (const protocol of offered) if (ACCEPTED_SUBPROTOCOLS.includes(protocol)) return protocol;
  return null;
}

function listening(server: Server | NetServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

// ─── ws 8 ────────────────────────────────────────────────────────────────────────────────────
// Routes: /echo echoes every message exactly (deflate accepted, ACCEPTED_SUBPROTOCOLS, a
// FOREIGN_ORIGIN refused with 403); /auth refuses every upgrade with 401; anything else is 404.

async function startWsServer(): Promise<TestServer> {
  const peers = new Peers();
  const http = createServer((_request, response) => {
    response.writeHead(426, { 'Content-Type': 'text/plain' }).end('WebSocket only\n');
  });
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: true,
    maxPayload: 64 * MiB,
    handleProtocols: (offered) => selectSubprotocol(offered) ?? false,
    verifyClient: (info, done) => {
      if (new URL(info.req.url ?? '/', 'http://x').pathname === '/auth') done(false, 401);
      else if (info.origin === FOREIGN_ORIGIN)
        done(false, 403, 'Cross origin websockets not allowed');
      else done(true);
    },
  });
  wss.on('connection', (ws: WsSocket, request) => {
    ws.on('error', () => {});
    const id = Peers.idOf(request.url);
    const peer = peers.opened(id, {
      headers: request.headers,
      subprotocol: ws.protocol === '' ? null : ws.protocol,
      send: (data) =>
        new Promise((resolve, reject) =>
          ws.send(data, { binary: typeof data !== 'string' }, (error) =>
            error ? reject(error) : resolve(),
          ),
        ),
      close: (code, reason) => ws.close(code, reason),
      ping: (data) => ws.ping(data),
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      peer?.messages.push({
        data: isBinary ? new Uint8Array(data) : data.toString(),
        binary: isBinary,
      });
      ws.send(data, { binary: isBinary });
    });
    ws.on('ping', (data: Buffer) => peer?.pings.push(new Uint8Array(data)));
    ws.on('pong', (data: Buffer) => peer?.pongs.push(new Uint8Array(data)));
    ws.on('close', (code: number, reason: Buffer) =>
      peers.closed(id, { code: code === 1005 ? null : code, reason: reason.toString() }),
    );
  });
  http.on('upgrade', (request, socket, head) => {
    peers.upgrading(request.url, socket);
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    if (path !== '/echo' && path !== '/auth') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  });
  const port = await listening(http);
  return {
    port,
    peers,
    stop: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

// ─── @gale/server ────────────────────────────────────────────────────────────────────────────
// The same routes, as @gale/server handlers.

function galePeerHandler(peers: Peers) {
  return class GaleEcho extends WebSocketHandler {
    #peer: Peer | undefined;

    override selectSubprotocol(offered: readonly string[]): string | null {
      return selectSubprotocol(offered);
    }

    override getCompressionOptions(): Record<string, never> {
      return {};
    }

    override open(): void {
      this.#peer = peers.opened(this.request.query.get('id'), {
        headers: this.request.headers,
        subprotocol: this.selectedSubprotocol,
        send: (data) => this.writeMessage(data, { binary: typeof data !== 'string' }),
        close: (code, reason) => this.close(code, reason),
        ping: (data) => this.ping(data),
      });
    }

    override onMessage(message: string | Uint8Array): void {
      const binary = typeof message !== 'string';
      this.#peer?.messages.push({ data: binary ? new Uint8Array(message) : message, binary });
      void this.writeMessage(message, { binary }).catch(() => {});
    }

    override onPing(data: Uint8Array): void {
      this.#peer?.pings.push(new Uint8Array(data));
    }

    override onPong(data: Uint8Array): void {
      this.#peer?.pongs.push(new Uint8Array(data));
    }

    override onClose(): void {
      peers.closed(this.request.query.get('id'), {
        code: this.closeCode,
        reason: this.closeReason,
      });
    }
  };
}

class GaleAuth extends WebSocketHandler {
  override prepare(): void {
    throw new HTTPError(401, 'login first');
  }
}

async function startGaleServer(): Promise<TestServer> {
  const peers = new Peers();
  const app = new Application(
    [
      ['/echo', galePeerHandler(peers)],
      ['/auth', GaleAuth],
    ],
    {
      logger: silentLogger,
      accessLog: false,
      websocketMaxMessageSize: 64 * MiB,
      // The backpressure test leaves 64 MiB unread on purpose; not a slow consumer to drop here.
      websocketMaxBufferedAmount: 256 * MiB,
    },
  );
  const { server, port } = await serve(app);
  // listen() reads upgrade requests itself (no 'upgrade' event for them): note each socket by the
  // target of its request line, from the first bytes, which the application's reader also gets.
  server.on('connection', (socket: Socket) => {
    socket.once('data', (chunk: Buffer) => {
      const line = chunk.toString('latin1', 0, Math.max(0, chunk.indexOf('\r\n')));
      peers.upgrading(line.split(' ')[1], socket);
    });
  });
  return { port, peers, stop: () => app.close(500) };
}

// ─── Client-side helpers ─────────────────────────────────────────────────────────────────────

const track = closeAfterEach();

let lastId = 0;
function nextId(): string {
  lastId += 1;
  return `c${lastId}`;
}

function closeEvent(connection: ClientConnection): Promise<CloseInfo> {
  return new Promise((resolve) =>
    connection.addEventListener(
      'close',
      (event) => resolve((event as Event & { info: CloseInfo }).info),
      {
        once: true,
      },
    ),
  );
}

function sameBytes(a: string | Uint8Array | null, b: Uint8Array): boolean {
  return a instanceof Uint8Array && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

/** Waits until `read()` has given the same value `times` polls in a row, 100 ms apart. */
async function settled(read: () => number, times = 5, limitMs = 20_000): Promise<number> {
  let last = read();
  let same = 0;
  for (let waited = 0; same < times && waited < limitMs; waited += 100) {
    await sleep(100);
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

/** A message whose first four bytes are `index`, the rest noise. */
function numbered(index: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  bytes.fill(index & 0xff);
  new DataView(bytes.buffer).setUint32(0, index);
  return bytes;
}

// ─── Against both servers ────────────────────────────────────────────────────────────────────

describe.each([
  { name: 'ws', start: startWsServer },
  { name: 'gale', start: startGaleServer },
])('against a $name server', ({ start }) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const url = (path: string) => `ws://127.0.0.1:${server.port}${path}`;

  /** Opens a connection to /echo and returns it with the server's side of it. */
  async function openEcho(options: Parameters<typeof websocketConnect>[1] = {}) {
    const id = nextId();
    const connection = track(await websocketConnect(url(`/echo?id=${id}`), options));
    const peer = await server.peers.get(id);
    return { connection, peer };
  }

  it('echoes a text message', async () => {
    const { connection, peer } = await openEcho();
    expect(connection.state).toBe('open');
    await connection.writeMessage('hello');
    expect(await peer.messages.next()).toEqual({ data: 'hello', binary: false });
    expect(await connection.readMessage()).toBe('hello');
    // Without `compression`, permessage-deflate is not offered.
    expect(peer.headers['sec-websocket-extensions']).toBeUndefined();
  });

  it('sends a lone message at once in one write, and batches the rest of a burst into one more', async () => {
    const { connection, peer } = await openEcho();
    // Counts node:stream's socket-level writes (_write/_writev) on sockets to this server.
    type SocketWrite = (this: Socket, ...args: unknown[]) => unknown;
    const proto = NetSocket.prototype as unknown as Record<'_write' | '_writev', SocketWrite>;
    const { _write: write, _writev: writev } = proto;
    let writes = 0;
    const counted = (original: SocketWrite): SocketWrite =>
      function (this: Socket, ...args: unknown[]) {
        if (this.remotePort === server.port) writes++;
        return original.apply(this, args);
      };
    proto._write = counted(write);
    proto._writev = counted(writev);
    try {
      void connection.writeMessage('lone');
      expect(writes).toBe(1); // already written, not waiting for the end of the turn
      await new Promise((resolve) => setImmediate(resolve));
      writes = 0;
      void connection.writeMessage('a');
      void connection.writeMessage('b');
      void connection.writeMessage('c');
      expect(writes).toBe(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(writes).toBe(2); // b and c together
    } finally {
      proto._write = write;
      proto._writev = writev;
    }
    for (const text of ['lone', 'a', 'b', 'c']) {
      expect(await peer.messages.next()).toEqual({ data: text, binary: false });
    }
  });

  it('delivers large messages intact, whether the kernel took each write whole or Node had to queue it', async () => {
    // Large frames are masked into a buffer the transport reuses once a write is fully in the
    // kernel. With the server not reading, the loopback buffers fill up and later writes stay
    // queued in Node: a buffer reused too early would corrupt them.
    const { connection, peer } = await openEcho();
    peer.socket.pause();
    const size = 200 * 1024;
    const count = 40; // 8 MiB, more than loopback buffers hold
    const sent: Array<Promise<void>> = [];
    let queued = 0;
    for (let i = 0; i < count; i++) {
      sent.push(connection.writeMessage(new Uint8Array(size).fill(i)));
      if (connection.bufferedAmount > 0) queued++;
      // One message per turn: each goes out at once instead of in a corked burst.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(queued).toBeGreaterThan(0); // the test did reach the queued case
    expect(queued).toBeLessThan(count); // and the written-whole case before it
    peer.socket.resume();
    await Promise.all(sent);
    for (let i = 0; i < count; i++) {
      const expected = new Uint8Array(size).fill(i);
      expect(sameBytes((await peer.messages.next()).data, expected)).toBe(true);
      expect(sameBytes(await connection.readMessage(), expected)).toBe(true);
    }
  });

  it('echoes a binary message with its exact bytes, and a string sent as binary', async () => {
    const { connection, peer } = await openEcho();
    const bytes = new Uint8Array([0, 1, 2, 127, 128, 254, 255]);
    await connection.writeMessage(bytes);
    const seen = await peer.messages.next();
    expect(seen.binary).toBe(true);
    expect(sameBytes(seen.data, bytes)).toBe(true);
    const echoed = await connection.readMessage();
    expect(echoed).toBeInstanceOf(Uint8Array);
    expect(sameBytes(echoed, bytes)).toBe(true);

    await connection.writeMessage(bytes.buffer.slice(1, 3));
    expect(sameBytes((await peer.messages.next()).data, new Uint8Array([1, 2]))).toBe(true);
    expect(sameBytes(await connection.readMessage(), new Uint8Array([1, 2]))).toBe(true);

    await connection.writeMessage('é', { binary: true });
    const asBytes = await peer.messages.next();
    expect(asBytes.binary).toBe(true);
    expect(sameBytes(asBytes.data, new Uint8Array([0xc3, 0xa9]))).toBe(true);
  });

  it('echoes unicode text, including astral characters', async () => {
    const { connection } = await openEcho();
    const text = 'héllo wörld — 日本語 — 🎉👍🏽 — \u{10348}';
    await connection.writeMessage(text);
    expect(await connection.readMessage()).toBe(text);
  });

  it('echoes a 4 MiB binary message', async () => {
    const { connection, peer } = await openEcho();
    const bytes = new Uint8Array(randomBytes(4 * MiB));
    await connection.writeMessage(bytes);
    const echoed = await connection.readMessage();
    expect(echoed).toBeInstanceOf(Uint8Array);
    expect((echoed as Uint8Array).byteLength).toBe(4 * MiB);
    expect(sameBytes(echoed, bytes)).toBe(true);
    expect(sameBytes((await peer.messages.next()).data, bytes)).toBe(true);
  });

  it('negotiates permessage-deflate with compression: true and compresses both ways', async () => {
    const { connection, peer } = await openEcho({ compression: true });
    expect(peer.headers['sec-websocket-extensions']).toMatch(/permessage-deflate/);
    const socket = peer.socket as Socket;
    const readBefore = socket.bytesRead;
    const writtenBefore = socket.bytesWritten;
    const text = 'a'.repeat(MiB);
    await connection.writeMessage(text);
    expect(await connection.readMessage()).toBe(text);
    // 1 MiB of one letter deflates to a few KiB: both sides must have compressed it on the wire.
    expect(socket.bytesRead - readBefore).toBeLessThan(64 * 1024);
    expect(socket.bytesWritten - writtenBefore).toBeLessThan(64 * 1024);
    // And an incompressible message still goes through.
    const bytes = new Uint8Array(randomBytes(100_000));
    await connection.writeMessage(bytes);
    expect(sameBytes(await connection.readMessage(), bytes)).toBe(true);
  });

  it('agrees on the subprotocol the server picks, and on none when none is offered', async () => {
    const offered = await openEcho({ subprotocols: ['nope', 'superchat', 'chat'] });
    expect(offered.peer.headers['sec-websocket-protocol']).toBe('nope, superchat, chat');
    expect(offered.connection.selectedSubprotocol).toBe('superchat');
    expect(offered.peer.subprotocol).toBe('superchat');

    const none = await openEcho();
    expect(none.peer.headers['sec-websocket-protocol']).toBeUndefined();
    expect(none.connection.selectedSubprotocol).toBeNull();
  });

  it('reports the close code and reason of a server-initiated close', async () => {
    const { connection, peer } = await openEcho();
    const closed = closeEvent(connection);
    peer.close(4001, 'bye');
    expect(await connection.readMessage()).toBeNull();
    const info = await closed;
    expect(info).toMatchObject({ code: 4001, reason: 'bye', wasClean: true });
    expect(connection.state).toBe('closed');
    expect(connection.closeCode).toBe(4001);
    expect(connection.closeReason).toBe('bye');
  });

  it('sends its close code and reason to the server', async () => {
    const { connection, peer } = await openEcho();
    await connection.close(4002, 'later');
    expect(connection.state).toBe('closed');
    expect(await peer.closed).toEqual({ code: 4002, reason: 'later' });
  });

  it('sends 1000 for a reason without a code', async () => {
    const { connection, peer } = await openEcho();
    await connection.close(undefined, 'done');
    expect(await peer.closed).toEqual({ code: 1000, reason: 'done' });
  });

  it('ends readMessage() with null and async iteration once the server closes', async () => {
    const { connection, peer } = await openEcho();
    await peer.send('one');
    await peer.send(new Uint8Array([2]));
    await peer.send('three');
    peer.close(1000, '');
    const received: Array<string | Uint8Array> = [];
    for await (const message of connection) received.push(message);
    expect(received).toHaveLength(3);
    expect(received[0]).toBe('one');
    expect(sameBytes(received[1] ?? null, new Uint8Array([2]))).toBe(true);
    expect(received[2]).toBe('three');
    expect(await connection.readMessage()).toBeNull();
    expect(await connection.readMessage()).toBeNull();
    expect(await connection.readJson()).toBeNull();
  });

  it('throws WebSocketClosedError synchronously from writeMessage() once closing or closed', async () => {
    const { connection } = await openEcho();
    const closing = connection.close();
    expect(connection.state).toBe('closing');
    expect(() => connection.writeMessage('late')).toThrow(WebSocketClosedError);
    await closing;
    expect(connection.state).toBe('closed');
    let thrown: unknown;
    try {
      void connection.writeMessage('later');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WebSocketClosedError);
    expect((thrown as WebSocketClosedError).code).toBe('ERR_WEBSOCKET_CLOSED');
    expect(() => connection.ping()).toThrow(WebSocketClosedError);
  });

  it('sends an object as JSON text and reads JSON back', async () => {
    const { connection, peer } = await openEcho();
    const value = { hello: 'wörld', list: [1, 2, { nested: true }], nothing: null };
    await connection.writeMessage(value);
    const seen = await peer.messages.next();
    expect(seen.binary).toBe(false);
    expect(JSON.parse(seen.data as string)).toEqual(value);
    expect(await connection.readJson()).toEqual(value);
  });

  it('rejects an upgrade to an unknown path with HandshakeError 404', async () => {
    const connection = track(createConnection(url('/nowhere')));
    const error = await rejection(connection.opened);
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).status).toBe(404);
    expect((error as HandshakeError).code).toBe('ERR_HANDSHAKE_STATUS');
    expect(connection.state).toBe('closed');
    expect(await connection.readMessage()).toBeNull();
  });

  it('rejects a foreign origin with HandshakeError 403', async () => {
    const error = await rejection(websocketConnect(url('/echo'), { origin: FOREIGN_ORIGIN }));
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).status).toBe(403);
    // Its own origin is accepted.
    const { connection } = await openEcho({ origin: `http://127.0.0.1:${server.port}` });
    expect(connection.state).toBe('open');
  });

  it('rejects a refused authentication with HandshakeError 401', async () => {
    const error = await rejection(
      websocketConnect(url('/auth'), { headers: { Authorization: 'Bearer wrong' } }),
    );
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).status).toBe(401);
  });

  it('sends extra headers with the upgrade request', async () => {
    const { peer } = await openEcho({ headers: { 'X-Client-Test': 'yes', Cookie: 'a=b' } });
    expect(peer.headers['x-client-test']).toBe('yes');
    expect(peer.headers.cookie).toBe('a=b');
  });

  it('aborts the connection when the signal aborts after it opened', async () => {
    const controller = new AbortController();
    const { connection, peer } = await openEcho({ signal: controller.signal });
    const closed = closeEvent(connection);
    controller.abort(new Error('user left'));
    await closed;
    expect(connection.state).toBe('closed');
    expect(await connection.readMessage()).toBeNull();
    await peer.closed;
    expect(() => connection.writeMessage('x')).toThrow(WebSocketClosedError);
  });

  it('sends a ping the server sees', async () => {
    const { connection, peer } = await openEcho();
    connection.ping('are you there');
    expect(Buffer.from(await peer.pings.next()).toString()).toBe('are you there');
    connection.ping(new Uint8Array([1, 2, 3]));
    expect([...(await peer.pings.next())]).toEqual([1, 2, 3]);
    connection.ping();
    expect((await peer.pings.next()).byteLength).toBe(0);
  });

  it("answers the server's pings with pongs on its own", async () => {
    const { peer } = await openEcho();
    peer.ping('server ping');
    expect(Buffer.from(await peer.pongs.next()).toString()).toBe('server ping');
  });

  it('closes with 1009 when the server sends more than maxMessageSize', async () => {
    const { connection, peer } = await openEcho({ maxMessageSize: 1024 });
    const closed = closeEvent(connection);
    await peer.send('x'.repeat(1024));
    expect(await connection.readMessage()).toBe('x'.repeat(1024));
    void peer.send('y'.repeat(1025)).catch(() => {});
    expect(await connection.readMessage()).toBeNull();
    await closed;
    expect(connection.state).toBe('closed');
    expect((await peer.closed).code).toBe(1009);
  });

  it('delivers every message to onMessage in order, and then readMessage() is not available', async () => {
    const received: Array<string | Uint8Array> = [];
    const id = nextId();
    let done!: () => void;
    const allThere = new Promise<void>((resolve) => {
      done = resolve;
    });
    const connection = track(
      await websocketConnect(url(`/echo?id=${id}`), {
        onMessage: async (message) => {
          received.push(message);
          // A returned promise holds back the next message.
          await sleep(1);
          if (received.length === 20) done();
        },
      }),
    );
    for (let i = 0; i < 20; i++) void connection.writeMessage(`m${i}`);
    await allThere;
    expect(received).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    const error = await rejection((async () => connection.readMessage())());
    expect(error).toBeInstanceOf(InvalidStateError);
    expect((error as InvalidStateError).code).toBe('ERR_INVALID_STATE');
  });

  it('stops reading when readQueueSize messages are unread, and still yields all of them in order', async () => {
    const count = 1000;
    const size = 64 * 1024;
    const { connection, peer } = await openEcho({ readQueueSize: 2 });
    const socket = peer.socket as Socket;
    const sent = Array.from({ length: count }, (_, i) => peer.send(numbered(i, size)));
    for (const promise of sent) promise.catch(() => {});
    // Nothing is read yet: the client must stop taking bytes from its socket, so what left the
    // server settles far below the 64 MiB written (the rest waits in the server's buffer).
    const inKernel = await settled(() => socket.bytesWritten - socket.writableLength);
    expect(inKernel).toBeLessThan((count * size) / 2);
    for (let i = 0; i < count; i++) {
      const message = await connection.readMessage();
      expect(message).toBeInstanceOf(Uint8Array);
      const bytes = message as Uint8Array;
      expect(bytes.byteLength).toBe(size);
      expect(new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0)).toBe(i);
      if (i % 100 === 0) await sleep(5);
    }
    await Promise.all(sent);
  });

  it('keeps every binary message it delivered intact while later reads arrive', async () => {
    // Sizes around the read sizes: messages that share a read, and ones split across reads.
    const sizes = [4, 7, 125, 126, 1000, 65_535, 65_536, 70_000, 200_000, 5];
    const message = (i: number) => numbered(i, sizes[i % sizes.length]!);
    const count = 120;
    const { connection, peer } = await openEcho();
    const sent = Array.from({ length: count }, (_, i) => peer.send(message(i)));
    const kept: Uint8Array[] = [];
    for (let i = 0; i < count; i++) kept.push((await connection.readMessage()) as Uint8Array);
    await Promise.all(sent);
    // Only now, after every read, compare each message with what was sent, byte for byte.
    for (const [i, bytes] of kept.entries())
      expect(Buffer.from(bytes).equals(message(i))).toBe(true);
  });

  it('closes at once when reading had stopped on a full read queue, and still yields every message received', async () => {
    // A close timeout far beyond the test's: only the server's Close frame can end this close().
    const { connection, peer } = await openEcho({ readQueueSize: 2, closeTimeout: 3_600_000 });
    const count = 50;
    await Promise.all(Array.from({ length: count }, (_, i) => peer.send(numbered(i, 1024))));
    // Nothing is read: the queue fills and the client stops reading its socket.
    await sleep(100);
    await connection.close(4001, 'done');
    expect(connection.closeCode).toBe(4001);
    expect(await peer.closed).toEqual({ code: 4001, reason: 'done' });
    // What arrived before the server's Close frame is still there, in order.
    for (let i = 0; i < count; i++) {
      const message = (await connection.readMessage()) as Uint8Array;
      expect(new DataView(message.buffer, message.byteOffset, 4).getUint32(0)).toBe(i);
    }
    expect(await connection.readMessage()).toBeNull();
  });

  it('keeps a connection whose server answers pings with pingInterval set', async () => {
    const { connection, peer } = await openEcho({ pingInterval: 50, pingTimeout: 200 });
    await peer.pings.next();
    await peer.pings.next();
    await peer.pings.next();
    expect(connection.state).toBe('open');
    await connection.writeMessage('still here');
    expect(await connection.readMessage()).toBe('still here');
  });
});

// ─── Against peers that are not WebSocket servers ────────────────────────────────────────────

/** Answers a request head with a bare 101 (the Accept of RFC 6455 §1.3), as a hand-made server. */
function switchProtocols(socket: Socket, requestHead: string): void {
  const key = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(requestHead)?.[1] ?? '';
  const accept = createHash('sha1')
    .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
    .digest('base64');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
}

describe('failures to connect', () => {
  const servers: Array<Server | NetServer> = [];
  const sockets = new Set<Socket>();
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(
      servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
  });

  /** A TCP server that accepts and never answers; resolves each socket's close. */
  async function silentServer() {
    const accepted = new Inbox<{ socket: Socket; closed: Promise<void> }>();
    const server = createNetServer((socket) => {
      sockets.add(socket);
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('error', () => {});
      socket.resume();
      accepted.push({ socket, closed });
    });
    servers.push(server);
    const port = await listening(server);
    return { port, accepted };
  }

  it('rejects writeMessage with WebSocketClosedError when the socket dies before the bytes reach the kernel, and an ignored one does not crash', async () => {
    // A server that accepts the upgrade, never reads, and resets the connection while the
    // client's messages are still queued in Node (16 MiB each: more than loopback buffers hold).
    let upgraded!: (socket: Socket) => void;
    const serverSide = new Promise<Socket>((resolve) => {
      upgraded = resolve;
    });
    const server = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      let head = '';
      const onData = (chunk: Buffer) => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        socket.pause();
        switchProtocols(socket, head);
        upgraded(socket);
      };
      socket.on('data', onData);
    });
    servers.push(server);
    const port = await listening(server);
    const connection = track(await websocketConnect(`ws://127.0.0.1:${port}/`));
    const socket = await serverSide;
    void connection.writeMessage(new Uint8Array(16 * MiB));
    const kept = connection.writeMessage(new Uint8Array(16 * MiB));
    await sleep(50);
    socket.resetAndDestroy();
    expect(await rejection(kept)).toBeInstanceOf(WebSocketClosedError);
    // Vitest fails the run on an unhandled rejection: the ignored promise must not cause one.
    await sleep(50);
  });

  it('rejects a plain HTTP 200 with HandshakeError 200 saying it is not a WebSocket endpoint', async () => {
    const http = createServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/html' }).end('<h1>hello</h1>');
    });
    servers.push(http);
    const port = await listening(http);
    const error = await rejection(websocketConnect(`ws://127.0.0.1:${port}/`));
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).status).toBe(200);
    expect((error as HandshakeError).message).toMatch(/not a websocket endpoint/i);
    http.closeAllConnections();
  });

  it('rejects with ConnectionError when nothing listens', async () => {
    const probe = createNetServer();
    const port = await listening(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const connection = track(createConnection(`ws://127.0.0.1:${port}/`));
    expect(connection.state).toBe('connecting');
    const error = await rejection(connection.opened);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe('ERR_CONNECTION');
    expect(((error as ConnectionError).cause as NodeJS.ErrnoException | undefined)?.code).toBe(
      'ECONNREFUSED',
    );
    expect(connection.state).toBe('closed');
  });

  it('rejects with ConnectTimeoutError and releases the socket when the server never answers', async () => {
    const { port, accepted } = await silentServer();
    const error = await rejection(
      websocketConnect(`ws://127.0.0.1:${port}/`, { connectTimeout: 200 }),
    );
    expect(error).toBeInstanceOf(ConnectTimeoutError);
    expect((error as ConnectTimeoutError).code).toBe('ERR_CONNECT_TIMEOUT');
    // The client gave its socket up.
    await (await accepted.next()).closed;
  });

  it('rejects with AbortError when the signal aborts during the handshake', async () => {
    const { port, accepted } = await silentServer();
    const controller = new AbortController();
    const connection = track(
      createConnection(`ws://127.0.0.1:${port}/`, { signal: controller.signal }),
    );
    const { closed } = await accepted.next();
    const reason = new Error('changed my mind');
    controller.abort(reason);
    const error = await rejection(connection.opened);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).cause).toBe(reason);
    expect(connection.state).toBe('closed');
    await closed;
  });

  it('rejects with AbortError at once for a signal that already aborted', async () => {
    const { port } = await silentServer();
    const error = await rejection(
      websocketConnect(`ws://127.0.0.1:${port}/`, { signal: AbortSignal.abort('early') }),
    );
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).cause).toBe('early');
  });

  it('drops a connection whose server stops answering pings', async () => {
    // Completes the opening handshake, then reads everything and answers nothing.
    const after = new Inbox<Buffer>();
    const server = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      let head = Buffer.alloc(0);
      let open = false;
      socket.on('data', (chunk: Buffer) => {
        if (open) {
          after.push(chunk);
          return;
        }
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        switchProtocols(socket, head.subarray(0, end).toString('latin1'));
        open = true;
        if (head.length > end + 4) after.push(head.subarray(end + 4));
      });
    });
    servers.push(server);
    const port = await listening(server);

    const states: ConnectionState[] = [];
    const clock = new ManualClock();
    const connection = track(
      await websocketConnect(`ws://127.0.0.1:${port}/`, {
        clock,
        pingInterval: 1_000,
        pingTimeout: 1_000,
        closeTimeout: 300,
      }),
    );
    connection.addEventListener('statechange', (event) =>
      states.push((event as Event & { state: ConnectionState }).state),
    );
    const closed = closeEvent(connection);
    // After the interval, the first frame after the handshake is a masked Ping.
    clock.advance(1_000);
    expect((await after.next())[0]).toBe(0x89);
    expect(connection.state).toBe('open');
    clock.advance(1_000); // no Pong within the timeout: the socket is dropped
    expect(await connection.readMessage()).toBeNull();
    const info = await closed;
    expect(info.wasClean).toBe(false);
    expect(connection.state).toBe('closed');
    expect(connection.closeCode).toBeNull();
    expect(states.at(-1)).toBe('closed');
  });
});

// Autobahn|Testsuite cases 3.2–5.15 (strict): a message, then a frame that breaks the protocol,
// in one read. The client's answer to the message must leave before its Close frame, whether it
// answers from onMessage or from an async reading loop.
describe('strict order when the server breaks the protocol', () => {
  const servers: NetServer[] = [];
  afterAll(async () => {
    await Promise.all(
      servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
  });

  /** A server that sends "Hello" and a frame with reserved opcode 5 in one write after the 101. */
  async function breakingServer(): Promise<{ port: number; frames: Inbox<Buffer> }> {
    const frames = new Inbox<Buffer>();
    const server = createNetServer((socket) => {
      socket.on('error', () => {});
      let head = Buffer.alloc(0);
      let open = false;
      let received = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        if (open) {
          received = Buffer.concat([received, chunk]);
          // Client frames are masked and short here: 2 + 4 bytes of header, then the payload.
          while (received.length >= 6 && received.length >= 6 + (received[1]! & 0x7f)) {
            const size = 6 + (received[1]! & 0x7f);
            frames.push(received.subarray(0, size));
            received = received.subarray(size);
          }
          return;
        }
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        switchProtocols(socket, head.subarray(0, end).toString('latin1'));
        open = true;
        socket.write(
          Buffer.concat([Buffer.from([0x81, 5]), Buffer.from('Hello'), Buffer.from([0x85, 0])]),
        );
      });
    });
    servers.push(server);
    return { port: await listening(server), frames };
  }

  function unmasked(frame: Buffer): { opcode: number; payload: Buffer } {
    const mask = frame.subarray(2, 6);
    const payload = Buffer.from(frame.subarray(6));
    for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
    return { opcode: frame[0]! & 0x0f, payload };
  }

  it('answers from an async reading loop before the 1002 Close', async () => {
    const { port, frames } = await breakingServer();
    const connection = track(
      await websocketConnect(`ws://127.0.0.1:${port}/`, { closeTimeout: 500 }),
    );
    void (async () => {
      for await (const message of connection)
        await connection.writeMessage(message).catch(() => {});
    })();
    const answer = unmasked(await frames.next());
    expect(answer).toEqual({ opcode: 1, payload: Buffer.from('Hello') });
    const close = unmasked(await frames.next());
    expect(close.opcode).toBe(8);
    expect(close.payload.readUInt16BE(0)).toBe(1002);
  });

  it('answers from onMessage before the 1002 Close', async () => {
    const { port, frames } = await breakingServer();
    // createConnection returns before any message can arrive, so onMessage finds it.
    const connection: ClientConnection = track(
      createConnection(`ws://127.0.0.1:${port}/`, {
        closeTimeout: 500,
        onMessage: (message) => connection.send(message),
      }),
    );
    expect(unmasked(await frames.next())).toEqual({ opcode: 1, payload: Buffer.from('Hello') });
    expect(unmasked(await frames.next()).opcode).toBe(8);
  });
});
