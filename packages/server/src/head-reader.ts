import type { IncomingHttpHeaders, Server } from 'node:http';
import type { Socket } from 'node:net';
import {
  buildRejection,
  findHeadEnd,
  HandshakeError,
  parseHeaderFields,
  parseRequestLine,
  type RequestLine,
} from '@gale/frame';
import { type Clock, unref } from '@gale/io';
import { InvalidStateError } from './errors.js';
import type { UpgradeHead } from './http/request.js';

/** What a {@link HeadReader} asks of the application that serves the server. */
export interface HeadReaderHost<M> {
  /** The WebSocket route `target` goes to, if any: only those requests are read here. */
  route(target: string): M | undefined;
  /**
   * A complete upgrade request to a WebSocket route: run the handshake. `rest` is what came after
   * the head (the first frames, if the client did not wait). The socket is paused and no longer
   * watched by the reader.
   */
  upgrade(head: UpgradeHead, rest: Buffer, route: M): void;
}

/** Limits of the reading: `settings.handshakeTimeout` (ms here) and `settings.maxHeaderSize`. */
export interface HeadReaderOptions {
  readonly clock: Clock;
  readonly timeoutMs: number;
  readonly maxHeaderSize: number;
}

/** A connection whose request head is being read. */
interface Pending<M> {
  readonly socket: Socket;
  readonly deadline: number;
  /** The bytes read so far: the first chunk itself, or a buffer they were copied into. */
  bytes: Buffer;
  length: number;
  /** Where findHeadEnd resumes. */
  scanned: number;
  /** Set once the request line is read and its target is a WebSocket route's. */
  line: RequestLine | undefined;
  route: M | undefined;
}

const EMPTY = Buffer.alloc(0);

/**
 * Gale's own reading of new connections on a server `Application.listen()` created: it takes
 * node:http's place on the server's `'connection'` event and reads each connection's request
 * head itself with @gale/frame's strict parser. A WebSocket upgrade to a WebSocket route goes
 * straight to the handshake, with no `IncomingMessage`; anything else (HTTP requests, other
 * upgrades, what the strict parser does not take) is put back on the socket (`unshift`) and
 * handed to node:http's own connection listener, which serves it as it always did.
 *
 * Limits, while a head is read: `timeoutMs` from the connection (the socket is destroyed, with no
 * response, as node:http's `headersTimeout` did), `maxHeaderSize` bytes (431, then closed), a
 * malformed head to a WebSocket route (400, then closed). Connections being read are destroyed
 * by {@link HeadReader.destroyAll}.
 */
export class HeadReader<M> {
  readonly #host: HeadReaderHost<M>;
  readonly #options: HeadReaderOptions;
  readonly #server: Server;
  readonly #nodeListener: (this: Server, socket: Socket) => void;
  // In arrival order, so in deadline order (one timeout for all): the timer looks at the first.
  readonly #pending = new Map<Socket, Pending<M>>();
  #timer: unknown;
  #timerAt = Number.POSITIVE_INFINITY;
  // Listeners shared by every connection of this server: no closure per connection.
  readonly #onData: (this: Socket, chunk: Buffer) => void;
  readonly #onEnd: (this: Socket) => void;
  readonly #onError: (this: Socket) => void;
  readonly #sweep = (): void => this.#expire();

  /** Takes node:http's place on `server`'s `'connection'` event. */
  constructor(server: Server, host: HeadReaderHost<M>, options: HeadReaderOptions) {
    this.#server = server;
    this.#host = host;
    this.#options = options;
    const [nodeListener, ...others] = server.listeners('connection');
    if (nodeListener === undefined || others.length > 0) {
      throw new InvalidStateError('expected node:http to be the only listener of a new server');
    }
    this.#nodeListener = nodeListener as (this: Server, socket: Socket) => void;
    server.removeListener('connection', nodeListener as (socket: Socket) => void);
    const reader = this;
    this.#onData = function (this: Socket, chunk: Buffer): void {
      reader.#data(this, chunk);
    };
    this.#onEnd = function (this: Socket): void {
      // The client stopped sending before its head was complete: 400, as node:http answers an
      // unfinished request; a connection that sent nothing is just closed.
      if (reader.#pending.get(this)?.length) reader.#refuse(this, 400);
      else {
        reader.#forget(this);
        this.destroy();
      }
    };
    this.#onError = function (this: Socket): void {
      reader.#forget(this);
      this.destroy();
    };
    server.on('connection', (socket: Socket) => this.#accept(socket));
  }

  /** Connections whose head is being read. */
  get size(): number {
    return this.#pending.size;
  }

  /** Destroys every connection whose head is still being read (the application is closing). */
  destroyAll(): void {
    for (const socket of [...this.#pending.keys()]) {
      this.#forget(socket);
      socket.destroy();
    }
    this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #accept(socket: Socket): void {
    const deadline = this.#options.clock.now() + this.#options.timeoutMs;
    this.#pending.set(socket, {
      socket,
      deadline,
      bytes: EMPTY,
      length: 0,
      scanned: 0,
      line: undefined,
      route: undefined,
    });
    if (this.#timerAt === Number.POSITIVE_INFINITY) this.#arm(deadline);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
  }

  #data(socket: Socket, chunk: Buffer): void {
    const pending = this.#pending.get(socket);
    if (pending === undefined) return;
    let bytes: Buffer;
    let length: number;
    if (pending.length === 0) {
      bytes = chunk; // the usual case: the whole head in one read, read where it lies
      length = chunk.length;
    } else {
      length = pending.length + chunk.length;
      bytes = pending.bytes;
      if (bytes.length < length) {
        // Grown by doubling, so a head that arrives a byte at a time is copied O(n) times in all.
        const grown = Buffer.allocUnsafe(Math.max(length, 2 * bytes.length, 1024));
        bytes.copy(grown, 0, 0, pending.length);
        bytes = grown;
      }
      chunk.copy(bytes, pending.length);
    }
    const { maxHeaderSize } = this.#options;
    let head: UpgradeHead;
    let end: number;
    try {
      let line = pending.line;
      if (line === undefined) {
        const read = parseRequestLine(bytes, length);
        if (read === undefined) {
          if (length > maxHeaderSize) {
            this.#refuse(socket, 431);
            return;
          }
          this.#keep(pending, bytes, length, 0);
          return;
        }
        // Not a line the strict reader takes, or not a WebSocket route: node:http's business.
        const route = read === null ? undefined : this.#host.route(read.target);
        if (read === null || route === undefined) {
          this.#handOff(socket, bytes, length);
          return;
        }
        line = pending.line = read;
        pending.route = route;
        pending.scanned = read.end - 1; // the request line's LF: a blank line may follow at once
      }
      end = findHeadEnd(bytes, pending.scanned, length);
      if (end === -1) {
        if (length > maxHeaderSize) {
          this.#refuse(socket, 431);
          return;
        }
        this.#keep(pending, bytes, length, length);
        return;
      }
      if (end > maxHeaderSize) {
        this.#refuse(socket, 431);
        return;
      }
      const headers = parseHeaderFields(bytes, line.end, end);
      // A request to a WebSocket route without Upgrade (a plain GET, a POST with a body) is an
      // HTTP request: node:http answers it (400 or 405) and keeps the connection.
      if (headers['upgrade'] === undefined) {
        this.#handOff(socket, bytes, length);
        return;
      }
      head = {
        method: line.method,
        url: line.target,
        // The parser gives node:http's shapes: set-cookie an array, every other field a string.
        headers: headers as IncomingHttpHeaders,
        socket,
      };
    } catch (error) {
      if (!(error instanceof HandshakeError)) throw error;
      this.#refuse(socket, error.status);
      return;
    }
    this.#forget(socket);
    socket.pause(); // until the connection starts reading, after the 101
    this.#host.upgrade(head, length > end ? bytes.subarray(end, length) : EMPTY, pending.route!);
  }

  #keep(pending: Pending<M>, bytes: Buffer, length: number, scanned: number): void {
    pending.bytes = bytes;
    pending.length = length;
    if (pending.line !== undefined) pending.scanned = scanned;
  }

  // Puts what was read back on the socket and lets node:http read the connection from the start.
  #handOff(socket: Socket, bytes: Buffer, length: number): void {
    this.#forget(socket);
    socket.pause();
    socket.unshift(length === bytes.length ? bytes : bytes.subarray(0, length));
    this.#nodeListener.call(this.#server, socket);
    socket.resume(); // node:http's 'data' listener gets the bytes put back first
  }

  // 400 or 431, then closed, as the application's 'clientError' answer for node:http.
  #refuse(socket: Socket, status: number): void {
    this.#forget(socket);
    if (socket.writable) {
      socket.write(
        buildRejection(status, status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'),
      );
    }
    socket.destroy();
  }

  #forget(socket: Socket): void {
    if (!this.#pending.delete(socket)) return;
    socket.removeListener('data', this.#onData);
    socket.removeListener('end', this.#onEnd);
    socket.removeListener('error', this.#onError);
    // The timer stays: once due, it finds nothing and is not armed again.
  }

  #arm(at: number): void {
    const { clock } = this.#options;
    this.#timerAt = at;
    this.#timer = clock.setTimeout(this.#sweep, Math.max(0, at - clock.now()));
    unref(this.#timer);
  }

  // Every connection past its deadline is dropped without a response: it may never have sent a
  // byte, or be sending one a minute (slowloris).
  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.#options.clock.now();
    for (const [socket, pending] of this.#pending) {
      if (pending.deadline > now) {
        this.#arm(pending.deadline);
        return;
      }
      this.#forget(socket);
      socket.destroy();
    }
  }
}
