// A WebSocket load generator that shares no code with the servers it measures: neither ws's nor
// @gale/frame's parser. It speaks just enough of RFC 6455 over raw `node:net` sockets:
//
// - its own opening handshake, with the fixed Sec-WebSocket-Key of RFC 6455 §1.3, checking the
//   `101` status and the Sec-WebSocket-Accept that §1.3 derives from that key;
// - frames built once per run and masked by its own loop with one fixed masking key (§5.3 asks a
//   client for unpredictable keys, to protect proxies; between two local processes nothing needs
//   protecting, and a fixed key lets one frame be written over and over without copying);
// - an incremental reader of unmasked server frames that only decodes FIN, opcode and payload
//   length (7-bit, 16-bit and 64-bit), across any read boundaries, and counts whole messages
//   without keeping their payloads.
//
// Every measurement is a closed loop bounded in time and count that stops by itself, and every
// connection goes to 127.0.0.1. server.mjs drives these functions; each takes the server's
// pid to sample its CPU time (and, for idleMemory, its RSS) from /proc.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { GC_SETTLE_MS } from '../lib/memory.mjs';
import { cpuSeconds } from '../lib/processes.mjs';

/** The opcodes this file sends or reads (RFC 6455 §5.2). */
export const Opcode = /** @type {const} */ ({
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
});

// RFC 6455 §1.3: the sample nonce and the Sec-WebSocket-Accept a server must derive from it.
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
// The masking key of the RFC 6455 §5.7 examples.
const MASKING_KEY = [0x37, 0xfa, 0x21, 0x3d];
const MAX_HEAD = 16 * 1024;
// Most latency samples kept; beyond it, reservoir sampling keeps a uniform subset.
const MAX_SAMPLES = 1 << 20;
// Every socket reads into this one buffer (net.connect's `onread`), which skips the stream
// machinery behind 'data' events: on 2 cores the load generator shares the CPU with the server,
// so its cost per message matters. One buffer is enough because each read is handled completely
// (payloads skipped, control frames copied) before the next.
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/**
 * @typedef {object} Target
 * @property {number} port
 * @property {string} path
 * @property {Buffer} request  the whole HTTP upgrade request, built once
 */

/**
 * Parses a `ws://127.0.0.1:<port>/path` URL and builds its upgrade request. Only loopback hosts
 * are accepted: the load generator never sends traffic anywhere else.
 *
 * @param {string} url
 * @returns {Target}
 */
export function parseTarget(url) {
  const parsed = new URL(url);
  if (parsed.protocol !== 'ws:') throw new Error(`expected a ws:// URL, got ${url}`);
  if (parsed.hostname !== '127.0.0.1' && parsed.hostname !== 'localhost') {
    throw new Error(`the load generator only connects to 127.0.0.1, not ${parsed.hostname}`);
  }
  const port = Number(parsed.port || 80);
  const path = `${parsed.pathname}${parsed.search}`;
  const request = Buffer.from(
    `GET ${path} HTTP/1.1\r\n` +
      `Host: 127.0.0.1:${port}\r\n` +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${KEY}\r\n` +
      'Sec-WebSocket-Version: 13\r\n' +
      '\r\n',
    'latin1',
  );
  return { port, path, request };
}

/**
 * Builds one complete masked frame (FIN set) as a client sends it (RFC 6455 §5.2). Build it once
 * and write the same Buffer as often as needed: the socket never modifies it.
 *
 * @param {number} opcode
 * @param {Uint8Array} payload
 * @returns {Buffer}
 */
export function maskedFrame(opcode, payload) {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + 4 + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else if (length < 0x10000) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  for (let i = 0; i < 4; i++) frame[headerLength + i] = MASKING_KEY[i];
  const offset = headerLength + 4;
  for (let i = 0; i < length; i++) frame[offset + i] = payload[i] ^ MASKING_KEY[i & 3];
  return frame;
}

/**
 * A masked Close frame with a close code and an optional reason (RFC 6455 §5.5.1).
 *
 * @param {number} code
 * @param {string} [reason]
 */
export function closeFrame(code, reason = '') {
  const reasonBytes = Buffer.from(reason, 'utf8');
  const payload = Buffer.allocUnsafe(2 + reasonBytes.length);
  payload.writeUInt16BE(code, 0);
  reasonBytes.copy(payload, 2);
  return maskedFrame(Opcode.CLOSE, payload);
}

/**
 * A deterministic payload: ASCII letters (valid UTF-8, so it also serves as text).
 *
 * @param {number} size
 */
export function payloadOf(size) {
  const payload = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) payload[i] = 97 + (i % 26);
  return payload;
}

const READ_HEADER = 0;
const READ_PAYLOAD = 1;

/**
 * Incremental reader of the unmasked frames a server sends. Feed it every read with `push()`;
 * it calls `onMessage(opcode, length)` once per complete message (after the frame with FIN) and
 * `onControl(opcode, payload)` per control frame. Data payloads are skipped, not kept, so
 * reading costs the same for any message size. Throws on a masked frame (RFC 6455 §5.1: "A
 * server MUST NOT mask any frames that it sends to the client") or a length beyond 2^53.
 */
export class FrameReader {
  /** @type {(opcode: number, length: number) => void} */
  onMessage = () => {};
  /** @type {(opcode: number, payload: Buffer) => void} */
  onControl = () => {};

  #state = READ_HEADER;
  #header = Buffer.alloc(10);
  #headerHave = 0;
  #headerNeed = 2;
  #fin = false;
  #opcode = 0;
  #frameLength = 0;
  #remaining = 0;
  /** @type {Buffer | null} */
  #control = null;
  #messageOpcode = 0;
  #messageLength = 0;

  /** @param {Buffer} chunk */
  push(chunk) {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.#state === READ_HEADER) {
        while (this.#headerHave < this.#headerNeed && pos < end) {
          this.#header[this.#headerHave++] = chunk[pos++];
        }
        if (this.#headerHave < this.#headerNeed) return;
        if (this.#headerNeed === 2) {
          if (this.#header[1] & 0x80) throw new Error('the server sent a masked frame');
          const length7 = this.#header[1] & 0x7f;
          if (length7 === 126) this.#headerNeed = 4;
          else if (length7 === 127) this.#headerNeed = 10;
          else this.#startPayload(length7);
        } else if (this.#headerNeed === 4) {
          this.#startPayload(this.#header.readUInt16BE(2));
        } else {
          const high = this.#header.readUInt32BE(2);
          if (high > 0x1fffff) throw new Error('frame length beyond 2^53');
          this.#startPayload(high * 2 ** 32 + this.#header.readUInt32BE(6));
        }
        continue;
      }
      const take = Math.min(this.#remaining, end - pos);
      if (this.#control) chunk.copy(this.#control, this.#frameLength - this.#remaining, pos);
      pos += take;
      this.#remaining -= take;
      if (this.#remaining === 0) this.#endFrame();
    }
  }

  /** @param {number} length */
  #startPayload(length) {
    this.#fin = (this.#header[0] & 0x80) !== 0;
    this.#opcode = this.#header[0] & 0x0f;
    this.#frameLength = length;
    this.#remaining = length;
    this.#control = this.#opcode >= 0x8 ? Buffer.alloc(length) : null;
    this.#state = READ_PAYLOAD;
    // A frame with an empty payload ends right after its header.
    if (length === 0) this.#endFrame();
  }

  #endFrame() {
    this.#state = READ_HEADER;
    this.#headerHave = 0;
    this.#headerNeed = 2;
    if (this.#control) {
      const payload = this.#control;
      this.#control = null;
      this.onControl(this.#opcode, payload);
      return;
    }
    if (this.#opcode !== Opcode.CONTINUATION) {
      this.#messageOpcode = this.#opcode;
      this.#messageLength = 0;
    }
    this.#messageLength += this.#frameLength;
    if (this.#fin) this.onMessage(this.#messageOpcode, this.#messageLength);
  }
}

/** One client connection after a successful opening handshake. */
export class Connection {
  /** Called per complete message. @type {(opcode: number, length: number) => void} */
  onMessage = () => {};
  /** Called when the server's Close frame arrives. @type {(code: number) => void} */
  onCloseFrame = () => {};
  /** Called once when the TCP connection is gone. @type {(error?: Error) => void} */
  onSocketClose = () => {};
  /** The close code of the server's Close frame; 1005 if it had none (RFC 6455 §7.1.5). */
  closeCode = 0;
  isCloseFrameReceived = false;
  isCloseFrameSent = false;
  isSocketClosed = false;

  #socket;
  #reader = new FrameReader();
  /** Copies of what arrived before start(). @type {Buffer[] | null} */
  #early;
  /** @type {Error | undefined} */
  #error;

  /**
   * @param {import('node:net').Socket} socket  right after the response head
   * @param {Buffer} leftover  a copy of the bytes that came after the response head
   */
  constructor(socket, leftover) {
    this.#socket = socket;
    this.#early = [leftover];
    this.#reader.onMessage = (opcode, length) => this.onMessage(opcode, length);
    this.#reader.onControl = (opcode, payload) => {
      if (opcode === Opcode.PING) {
        if (!this.isCloseFrameSent) socket.write(maskedFrame(Opcode.PONG, payload));
      } else if (opcode === Opcode.CLOSE) {
        this.isCloseFrameReceived = true;
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.onCloseFrame(this.closeCode);
      }
    };
    socket.on('error', (error) => {
      this.#error = error;
    });
    socket.on('close', () => {
      this.isSocketClosed = true;
      this.onSocketClose(this.#error);
    });
  }

  /** Starts reading frames; set the `on…` callbacks first. */
  start() {
    const early = this.#early ?? [];
    this.#early = null;
    for (const chunk of early) this.receive(chunk);
  }

  /**
   * Bytes read from the socket; kept (copied) until start(). Called by openConnection.
   *
   * @param {Buffer} chunk  valid only during this call
   */
  receive(chunk) {
    if (this.#early !== null) {
      this.#early.push(Buffer.from(chunk));
      return;
    }
    try {
      this.#reader.push(chunk);
    } catch (error) {
      this.#socket.destroy(/** @type {Error} */ (error));
    }
  }

  /** Writes a pre-built frame. @param {Buffer} frame */
  send(frame) {
    this.#socket.write(frame);
  }

  /** Starts the closing handshake (RFC 6455 §7.1.2). @param {Buffer} frame  a closeFrame() */
  sendClose(frame) {
    if (this.isCloseFrameSent || this.isSocketClosed) return;
    this.isCloseFrameSent = true;
    this.#socket.write(frame);
  }

  destroy() {
    this.#socket.destroy();
  }
}

/** The handshake failed with an HTTP status other than 101. */
export class HandshakeRejectedError extends Error {
  /** @param {number} status @param {string} statusLine */
  constructor(status, statusLine) {
    super(`the server answered the upgrade with "${statusLine}"`);
    this.status = status;
  }
}

/**
 * Opens one TCP connection to 127.0.0.1 and performs the opening handshake.
 *
 * @param {Target} target
 * @param {{ timeoutMs?: number }} [options]
 * @returns {Promise<Connection>}  call `start()` on it once its callbacks are set
 */
export function openConnection(target, { timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    /** @type {(chunk: Buffer) => void} */
    let receive = (chunk) => onHandshakeBytes(chunk);
    const socket = connect({
      host: '127.0.0.1',
      port: target.port,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n, buffer) => receive(buffer.subarray(0, n)) },
    });
    /** @type {Buffer | null} */
    let head = null;
    let isSettled = false;
    /** @param {Error} error */
    const fail = (error) => {
      if (isSettled) return;
      isSettled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new Error(`no handshake response within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onError = (/** @type {Error} */ error) => fail(error);
    const onClose = () =>
      fail(
        Object.assign(new Error('connection closed during the opening handshake'), {
          code: 'ECONNRESET',
        }),
      );
    /** @param {Buffer} chunk */
    const onHandshakeBytes = (chunk) => {
      if (isSettled) return;
      head = head === null ? Buffer.from(chunk) : Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) {
        if (head.length > MAX_HEAD) fail(new Error('handshake response head too large'));
        return;
      }
      const text = head.toString('latin1', 0, end);
      const statusLine = /** @type {string} */ (text.split('\r\n', 1)[0]);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0);
      if (status !== 101) return fail(new HandshakeRejectedError(status, statusLine));
      const accept = /\r\nsec-websocket-accept:[ \t]*([^\r]*?)[ \t]*(?:\r\n|$)/i.exec(text)?.[1];
      if (accept !== ACCEPT) return fail(new Error(`wrong Sec-WebSocket-Accept: ${accept}`));
      isSettled = true;
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('close', onClose);
      const connection = new Connection(socket, head.subarray(end + 4));
      receive = (bytes) => connection.receive(bytes);
      resolve(connection);
    };
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('connect', () => socket.write(target.request));
  });
}

/**
 * The soft limit on open file descriptors of a process, from /proc/<pid>/limits.
 *
 * @param {number | 'self'} pid
 * @returns {number}  Infinity when unlimited or unreadable
 */
export function openFileLimit(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return Infinity;
  }
}

// Read now: once this process runs out of file descriptors it cannot open /proc/self/limits.
const SELF_OPEN_FILE_LIMIT = openFileLimit('self');

/**
 * Why connection `index` failed, in words a benchmark user can act on.
 *
 * @param {any} error
 * @param {number} index
 * @param {number | undefined} count
 * @param {number} [pid]
 */
function explain(error, index, count, pid) {
  const which = `connection ${index + 1}${count === undefined ? '' : ` of ${count}`}`;
  const code = error?.code;
  if (code === 'EMFILE' || code === 'ENFILE') {
    return new Error(
      `the load generator ran out of file descriptors at ${which} (${code}); raise its limit ` +
        `with ulimit -n (now ${SELF_OPEN_FILE_LIMIT}) in the shell that runs it`,
      { cause: error },
    );
  }
  if (code === 'EADDRNOTAVAIL') {
    return new Error(
      `no free local port for ${which} (EADDRNOTAVAIL): the ephemeral port range ` +
        '(/proc/sys/net/ipv4/ip_local_port_range) is used up, often by TIME_WAIT sockets',
      { cause: error },
    );
  }
  if (code === 'ECONNREFUSED') {
    return new Error(`nothing accepted ${which} (ECONNREFUSED): is the server listening?`, {
      cause: error,
    });
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    const limit = pid === undefined ? '' : ` (its limit: ${openFileLimit(pid)})`;
    return new Error(
      `the server dropped ${which} during the opening handshake (${code}); if it ran out of ` +
        `file descriptors, raise ulimit -n for the server process${limit}`,
      { cause: error },
    );
  }
  return new Error(`${which} failed: ${error?.message ?? error}`, { cause: error });
}

/**
 * Opens `count` connections, at most `batch` handshakes at a time. On any failure it closes
 * those already open and throws an error that says what to do.
 *
 * @param {Target} target
 * @param {number} count
 * @param {{ batch?: number, timeoutMs?: number, pid?: number }} [options]
 * @returns {Promise<Connection[]>}
 */
export async function openMany(target, count, { batch = 100, timeoutMs = 10_000, pid } = {}) {
  /** @type {Connection[]} */
  const connections = new Array(count);
  let next = 0;
  /** @type {Error | null} */
  let failure = null;
  const worker = async () => {
    while (failure === null && next < count) {
      const index = next++;
      try {
        connections[index] = await openConnection(target, { timeoutMs });
      } catch (error) {
        failure ??= explain(error, index, count, pid);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(batch, count) }, worker));
  if (failure !== null) {
    for (const connection of connections) connection?.destroy();
    throw failure;
  }
  return connections;
}

/**
 * Closes connections with the closing handshake: a Close frame with 1000, then waits for the
 * server's Close frame and the end of TCP; destroys whatever is still open after `timeoutMs`.
 *
 * @param {Connection[]} connections
 * @param {number} [timeoutMs]
 */
export async function closeAll(connections, timeoutMs = 5_000) {
  const frame = closeFrame(1000);
  const open = connections.filter((c) => c !== undefined && !c.isSocketClosed);
  const closed = open.map(
    (c) =>
      new Promise((resolve) => {
        c.onMessage = () => {};
        c.onSocketClose = () => resolve(undefined);
        c.sendClose(frame);
      }),
  );
  const timer = sleep(timeoutMs, 'timeout', { ref: false });
  if ((await Promise.race([Promise.all(closed), timer])) === 'timeout') {
    for (const c of open) c.destroy();
  }
}

/**
 * Measures, over one window, how many cores the server and this process kept busy.
 *
 * @param {number | undefined} pid
 */
function cpuMeter(pid) {
  let serverStart = 0;
  let selfStart = process.cpuUsage();
  let wallStart = 0;
  return {
    start() {
      wallStart = performance.now();
      selfStart = process.cpuUsage();
      if (pid !== undefined) serverStart = cpuSeconds(pid);
    },
    /** @returns {{ serverCpu?: number, loadgenCpu: number }} */
    stop() {
      const wall = (performance.now() - wallStart) / 1000;
      const self = process.cpuUsage(selfStart);
      const loadgenCpu = (self.user + self.system) / 1e6 / wall;
      if (pid === undefined) return { loadgenCpu };
      return { serverCpu: (cpuSeconds(pid) - serverStart) / wall, loadgenCpu };
    },
  };
}

/**
 * Throws a RangeError unless every option is a finite number >= 0, so that a missing option
 * fails at once instead of turning a loop bound into NaN.
 *
 * @param {Record<string, number | undefined>} options
 */
function requireCount(options) {
  for (const [name, value] of Object.entries(options)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
    }
  }
}

/** Latency samples in milliseconds, bounded by reservoir sampling. */
class Samples {
  #values = new Float64Array(1024);
  count = 0;

  /** @param {number} value */
  add(value) {
    const index = this.count++;
    if (index < this.#values.length) {
      this.#values[index] = value;
    } else if (this.#values.length < MAX_SAMPLES) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
      this.#values[index] = value;
    } else {
      const slot = Math.floor(Math.random() * this.count);
      if (slot < MAX_SAMPLES) this.#values[slot] = value;
    }
  }

  /** Nearest-rank percentiles. @param {number[]} ps  fractions, e.g. 0.5 */
  percentiles(ps) {
    const sorted = this.#values.slice(0, Math.min(this.count, this.#values.length)).sort();
    return ps.map((p) =>
      sorted.length === 0 ? Number.NaN : sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)],
    );
  }
}

/**
 * Closed-loop echo: each connection sends one message, waits for its echo, records the round
 * trip and sends the next. Round trips completing in the `durationMs` window after `warmupMs`
 * count; then each connection stops after its current round trip.
 *
 * @param {object} options
 * @param {string} options.url  ws://127.0.0.1:<port>/echo
 * @param {number} [options.connections]
 * @param {number} options.size  payload bytes per message
 * @param {number} options.durationMs
 * @param {boolean} [options.text]  text frames instead of binary
 * @param {number} [options.warmupMs]
 * @param {number} [options.pid]  the server's pid, to report its CPU use
 * @returns {Promise<{ roundTripsPerSec: number, p50Ms: number, p99Ms: number,
 *   roundTrips: number, serverCpu?: number, loadgenCpu: number }>}
 */
export async function echo({
  url,
  connections = 50,
  size,
  durationMs,
  text = false,
  warmupMs = Math.min(1000, durationMs / 4),
  pid,
}) {
  requireCount({ connections, size, durationMs, warmupMs });
  const target = parseTarget(url);
  const opcode = text ? Opcode.TEXT : Opcode.BINARY;
  const frame = maskedFrame(opcode, payloadOf(size));
  const conns = await openMany(target, connections, { pid });
  const graceMs = 10_000;
  try {
    return await new Promise((resolve, reject) => {
      const samples = new Samples();
      const sentAt = new Float64Array(connections);
      const cpu = cpuMeter(pid);
      const begin = performance.now();
      const measureFrom = begin + warmupMs;
      const stopAt = measureFrom + durationMs;
      let roundTrips = 0;
      let inFlight = 0;
      let isDone = false;
      /** @type {{ serverCpu?: number, loadgenCpu: number } | null} */
      let usage = null;
      /** @param {Error} [error] */
      const finish = (error) => {
        if (isDone) return;
        isDone = true;
        clearTimeout(startTimer);
        clearTimeout(stopTimer);
        clearTimeout(guard);
        if (error) return reject(error);
        usage ??= cpu.stop();
        const [p50Ms, p99Ms] = samples.percentiles([0.5, 0.99]);
        resolve({
          roundTripsPerSec: (roundTrips / durationMs) * 1000,
          p50Ms: /** @type {number} */ (p50Ms),
          p99Ms: /** @type {number} */ (p99Ms),
          roundTrips,
          ...usage,
        });
      };
      const startTimer = setTimeout(() => cpu.start(), warmupMs);
      const stopTimer = setTimeout(() => {
        usage = cpu.stop();
      }, warmupMs + durationMs);
      const guard = setTimeout(
        () => finish(new Error(`${inFlight} echoes still missing ${graceMs} ms after the end`)),
        warmupMs + durationMs + graceMs,
      );
      conns.forEach((conn, i) => {
        conn.onMessage = (replyOpcode, length) => {
          const now = performance.now();
          inFlight--;
          if (replyOpcode !== opcode || length !== size) {
            finish(new Error(`expected an echo of ${size} bytes, got opcode ${replyOpcode}`));
            return;
          }
          if (now >= measureFrom && now < stopAt) {
            roundTrips++;
            samples.add(now - /** @type {number} */ (sentAt[i]));
          }
          if (now < stopAt) {
            sentAt[i] = now;
            inFlight++;
            conn.send(frame);
          } else if (inFlight === 0) {
            finish();
          }
        };
        conn.onCloseFrame = (code) => finish(new Error(`the server closed with ${code}`));
        conn.onSocketClose = (error) =>
          finish(new Error(`the server dropped connection ${i + 1}: ${error?.message ?? 'EOF'}`));
        conn.start();
      });
      for (let i = 0; i < connections; i++) {
        sentAt[i] = performance.now();
        inFlight++;
        /** @type {Connection} */ (conns[i]).send(frame);
      }
    });
  } finally {
    await closeAll(conns);
  }
}

/**
 * Fan-out: `subscribers` connections only count what they receive; one more connection, the
 * publisher, sends the text message `publish:<messages>:<size>` (or `command`), which the server
 * answers by sending `messages` messages of `size` bytes to every other connection on the route.
 * Measures from that message until every subscriber has received all of them.
 *
 * @param {object} options
 * @param {string} options.url  ws://127.0.0.1:<port>/fanout, where the subscribers connect
 * @param {number} [options.subscribers]
 * @param {number} [options.messages]  per subscriber
 * @param {number} [options.size]
 * @param {string} [options.publishUrl]  where the publisher connects (default: url)
 * @param {string} [options.command]  the publisher's message (default: publish:<messages>:<size>)
 * @param {number} [options.timeoutMs]
 * @param {number} [options.pid]
 * @returns {Promise<{ deliveriesPerSec: number, deliveries: number, elapsedMs: number,
 *   serverCpu?: number, loadgenCpu: number }>}
 */
export async function fanout({
  url,
  subscribers = 1000,
  messages = 100,
  size = 32,
  publishUrl = url,
  command = `publish:${messages}:${size}`,
  timeoutMs = 60_000,
  pid,
}) {
  requireCount({ subscribers, messages, size, timeoutMs });
  const subs = await openMany(parseTarget(url), subscribers, { pid });
  /** @type {Connection[]} */
  let publisher = [];
  try {
    publisher = await openMany(parseTarget(publishUrl), 1, { pid });
    // The 101 reached us after the server registered each subscriber, but give a server that
    // registers them in a later callback a moment.
    await sleep(100);
    return await new Promise((resolve, reject) => {
      const received = new Uint32Array(subscribers);
      const cpu = cpuMeter(pid);
      let complete = 0;
      let deliveries = 0;
      let isDone = false;
      let begin = 0;
      /** @param {Error} [error] */
      const finish = (error) => {
        if (isDone) return;
        isDone = true;
        clearTimeout(guard);
        const elapsedMs = performance.now() - begin;
        if (error) return reject(error);
        resolve({
          deliveriesPerSec: (deliveries / elapsedMs) * 1000,
          deliveries,
          elapsedMs,
          ...cpu.stop(),
        });
      };
      const guard = setTimeout(() => {
        const expected = subscribers * messages;
        finish(
          new Error(
            `fan-out incomplete after ${timeoutMs} ms: ${deliveries} of ${expected} ` +
              `deliveries, ${subscribers - complete} subscribers short`,
          ),
        );
      }, timeoutMs);
      subs.forEach((conn, i) => {
        conn.onMessage = (_opcode, length) => {
          if (length !== size) {
            finish(new Error(`subscriber ${i + 1} got ${length} bytes, expected ${size}`));
            return;
          }
          deliveries++;
          const count = ++received[i];
          if (count === messages && ++complete === subscribers) finish();
          else if (count > messages) finish(new Error(`subscriber ${i + 1} got extra messages`));
        };
        conn.onCloseFrame = (code) => finish(new Error(`the server closed with ${code}`));
        conn.onSocketClose = () => finish(new Error(`the server dropped subscriber ${i + 1}`));
        conn.start();
      });
      const [pub] = /** @type {[Connection]} */ (publisher);
      pub.onSocketClose = () => finish(new Error('the server dropped the publisher'));
      pub.start();
      cpu.start();
      begin = performance.now();
      pub.send(maskedFrame(Opcode.TEXT, Buffer.from(command)));
    });
  } finally {
    await closeAll([...subs, ...publisher], 15_000);
  }
}

/**
 * Reads VmRSS of a process from /proc/<pid>/status, in bytes.
 *
 * @param {number} pid
 */
export function readRss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kib) * 1024;
}

/**
 * Resolves once the RSS of process `pid` has settled after a forced collection: V8 hands the
 * freed pages back to the system on background threads, and RSS kept falling for up to a second
 * after one. Waits GC_SETTLE_MS, then until two readings `intervalMs` apart agree within
 * `toleranceBytes`, `maxMs` in all at most.
 *
 * @param {number} pid
 * @param {{ intervalMs?: number, toleranceBytes?: number, maxMs?: number }} [options]
 */
export async function rssSettled(
  pid,
  { intervalMs = 250, toleranceBytes = 64 * 1024, maxMs = 5_000 } = {},
) {
  const deadline = performance.now() + maxMs;
  await sleep(GC_SETTLE_MS);
  let previous = readRss(pid);
  while (performance.now() < deadline) {
    await sleep(intervalMs);
    const current = readRss(pid);
    if (Math.abs(current - previous) <= toleranceBytes) return;
    previous = current;
  }
}

/**
 * Idle memory: RSS growth of the server per open, idle connection. Opens `baseline` connections
 * first so that one-time costs (lazily loaded code, first buffers) stay out of the figure, reads
 * VmRSS, opens the remaining ones, lets the server settle and reads VmRSS again. The caller
 * must allow enough file descriptors (ulimit -n) in both processes; this checks the limits
 * first and says so.
 *
 * Two figures: `settleMs` after the connections opened (and a forced collection), and after `idleMs`
 * with nothing happening (both readings, before and after, wait that long). They differ for V8:
 * opening thousands of connections at once grows its young generation to the maximum, and it
 * gives that memory back only when its memory reducer runs, some 10–40 s after allocation
 * stops. The first figure is a burst of handshakes; the second is what an idle server holds.
 *
 * @param {object} options
 * @param {string} options.url
 * @param {number} [options.connections]
 * @param {number} options.pid  the server's pid
 * @param {number} [options.batch]  handshakes in flight at once
 * @param {number} [options.baseline]
 * @param {number} [options.settleMs]
 * @param {number} [options.idleMs]  0 skips the second figure
 * @param {NodeJS.Signals} [options.gcSignal]  sent to the server before each reading, if it
 *   collects garbage on that signal (the peers do on SIGUSR2), which then waits until RSS has
 *   settled ({@link rssSettled}); a process without a handler dies
 * @returns {Promise<{ rssBytesPerConnection: number, rssBeforeBytes: number,
 *   rssAfterBytes: number, measuredConnections: number, rssIdleBytesPerConnection?: number,
 *   rssIdleBeforeBytes?: number, rssIdleAfterBytes?: number }>}
 */
export async function idleMemory({
  url,
  connections = 10_000,
  pid,
  batch = 100,
  baseline = Math.min(100, Math.floor(connections / 10)),
  settleMs = 2_000,
  idleMs = 60_000,
  gcSignal,
}) {
  requireCount({ connections, pid, batch, baseline, settleMs });
  if (!(idleMs >= 0)) throw new RangeError('idleMs must be 0 or more');
  if (baseline >= connections) throw new RangeError('baseline must be below connections');
  const target = parseTarget(url);
  const needed = connections + 64;
  for (const [who, limit] of /** @type {const} */ ([
    ['the load generator', SELF_OPEN_FILE_LIMIT],
    [`the server (pid ${pid})`, openFileLimit(pid)],
  ])) {
    if (limit < needed) {
      throw new Error(
        `${connections} connections need about ${needed} file descriptors but ${who} may ` +
          `open only ${limit}; raise ulimit -n before starting it`,
      );
    }
  }
  const settle = async () => {
    await sleep(settleMs);
    if (gcSignal !== undefined) {
      process.kill(pid, gcSignal);
      await rssSettled(pid);
    }
  };
  /** @type {Connection[]} */
  const conns = [];
  let dropped = 0;
  const watch = (/** @type {Connection[]} */ opened) => {
    for (const conn of opened) {
      conn.onSocketClose = () => dropped++;
      conn.start();
      conns.push(conn);
    }
  };
  try {
    watch(await openMany(target, baseline, { batch, pid }));
    await settle();
    const rssBeforeBytes = readRss(pid);
    if (idleMs > 0) await sleep(idleMs);
    const rssIdleBeforeBytes = readRss(pid);
    watch(await openMany(target, connections - baseline, { batch, pid }));
    await settle();
    const rssAfterBytes = readRss(pid);
    if (idleMs > 0) await sleep(idleMs);
    const rssIdleAfterBytes = readRss(pid);
    if (dropped > 0) throw new Error(`the server dropped ${dropped} idle connections`);
    const measuredConnections = connections - baseline;
    return {
      rssBytesPerConnection: (rssAfterBytes - rssBeforeBytes) / measuredConnections,
      rssBeforeBytes,
      rssAfterBytes,
      measuredConnections,
      ...(idleMs > 0
        ? {
            rssIdleBytesPerConnection:
              (rssIdleAfterBytes - rssIdleBeforeBytes) / measuredConnections,
            rssIdleBeforeBytes,
            rssIdleAfterBytes,
          }
        : {}),
    };
  } finally {
    await closeAll(conns, 30_000);
  }
}

/**
 * Sessions: `concurrency` workers each loop connect → opening handshake → one echo → closing
 * handshake (a masked Close frame, then the server's Close frame and the end of TCP, which
 * RFC 6455 §7.1.1 asks the server to close first). Counts the sessions that finish in the
 * `durationMs` window after `warmupMs`.
 *
 * @param {object} options
 * @param {string} options.url
 * @param {number} options.durationMs
 * @param {number} [options.concurrency]
 * @param {number} [options.size]
 * @param {number} [options.warmupMs]
 * @param {number} [options.timeoutMs]  for each session
 * @param {number} [options.pid]
 * @returns {Promise<{ sessionsPerSec: number, sessions: number, serverCpu?: number,
 *   loadgenCpu: number }>}
 */
export async function sessions({
  url,
  durationMs,
  concurrency = 50,
  size = 32,
  warmupMs = Math.min(1000, durationMs / 4),
  timeoutMs = 5_000,
  pid,
}) {
  requireCount({ durationMs, concurrency, size, warmupMs, timeoutMs });
  const target = parseTarget(url);
  const frame = maskedFrame(Opcode.BINARY, payloadOf(size));
  const close = closeFrame(1000);
  const cpu = cpuMeter(pid);
  const begin = performance.now();
  const measureFrom = begin + warmupMs;
  const stopAt = measureFrom + durationMs;
  let completed = 0;
  let started = 0;
  /** @type {Error | null} */
  let failure = null;

  /** @returns {Promise<void>} */
  const session = async () => {
    const index = started++;
    let conn;
    try {
      conn = await openConnection(target, { timeoutMs });
    } catch (error) {
      throw explain(error, index, undefined, pid);
    }
    const c = conn;
    await new Promise((resolve, reject) => {
      /** @param {string} [problem] */
      const settle = (problem) => {
        clearTimeout(timer);
        if (problem === undefined) return resolve(undefined);
        c.destroy();
        reject(new Error(`session ${index + 1}: ${problem}`));
      };
      const timer = setTimeout(() => {
        const step = !c.isCloseFrameSent
          ? 'echo'
          : !c.isCloseFrameReceived
            ? 'Close frame'
            : 'end of TCP from the server';
        settle(`no ${step} within ${timeoutMs} ms`);
      }, timeoutMs);
      c.onMessage = (_opcode, length) => {
        if (c.isCloseFrameSent || length !== size) {
          settle(`unexpected message of ${length} bytes`);
          return;
        }
        c.sendClose(close);
      };
      c.onSocketClose = (error) => {
        if (c.isCloseFrameReceived && c.closeCode === 1000) return settle();
        const what = c.isCloseFrameReceived
          ? `closed with ${c.closeCode}`
          : 'dropped the connection';
        settle(`the server ${what} (${error?.message ?? 'EOF'})`);
      };
      c.start();
      c.send(frame);
    });
  };

  const worker = async () => {
    while (failure === null && performance.now() < stopAt) {
      try {
        await session();
      } catch (error) {
        failure ??= /** @type {Error} */ (error);
        return;
      }
      const now = performance.now();
      if (now >= measureFrom && now < stopAt) completed++;
    }
  };
  const startTimer = setTimeout(() => cpu.start(), warmupMs);
  /** @type {{ serverCpu?: number, loadgenCpu: number } | null} */
  let usage = null;
  const stopTimer = setTimeout(() => {
    usage = cpu.stop();
  }, warmupMs + durationMs);
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(startTimer);
  clearTimeout(stopTimer);
  if (failure !== null) throw failure;
  usage ??= cpu.stop();
  return { sessionsPerSec: (completed / durationMs) * 1000, sessions: completed, ...usage };
}

/**
 * Builds loadgen/loadgen.c (echo and sessions in C; why in its header) with the system's C compiler
 * ($CC, else cc), once per change of the source, into node_modules/.cache. Returns the program's
 * path, or null with the reason when it cannot be built.
 *
 * @returns {{ path: string } | { path: null, reason: string }}
 */
export function buildNativeLoadgen() {
  const source = fileURLToPath(new URL('./loadgen.c', import.meta.url));
  const cacheDir = fileURLToPath(new URL('../node_modules/.cache/gale-bench/', import.meta.url));
  const path = join(cacheDir, 'loadgen');
  if (existsSync(path) && statSync(path).mtimeMs >= statSync(source).mtimeMs) return { path };
  mkdirSync(cacheDir, { recursive: true });
  const compiler = process.env.CC ?? 'cc';
  const built = spawnSync(compiler, ['-O2', '-o', path, source], { encoding: 'utf8' });
  if (built.error || built.status !== 0) {
    return {
      path: null,
      reason: `${compiler} could not build loadgen/loadgen.c: ${built.error?.message ?? built.stderr.trim()}`,
    };
  }
  return { path };
}

/**
 * Runs loadgen/loadgen.c in `mode` and returns the JSON line it prints. The defaults are those of
 * {@link echo} and {@link sessions}.
 *
 * @param {string} program
 * @param {'echo' | 'sessions'} mode
 * @param {{ url: string, connections?: number, warmupMs?: number, durationMs: number,
 *   size?: number, text?: boolean, timeoutMs?: number, pid?: number }} options
 * @returns {Promise<Record<string, number>>}
 */
async function runNative(
  program,
  mode,
  {
    url,
    connections = 50,
    size = 32,
    durationMs,
    text = false,
    warmupMs = Math.min(1000, durationMs / 4),
    timeoutMs = 10_000,
    pid,
  },
) {
  requireCount({ connections, warmupMs, durationMs, size, timeoutMs });
  const target = parseTarget(url);
  const args = [mode, target.port, target.path, connections, warmupMs, durationMs, size];
  args.push(text ? 'text' : 'binary', timeoutMs);
  if (pid !== undefined) args.push(pid);
  const child = spawn(program, args.map(String), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    stderr += chunk;
  });
  const [code, signal] = await once(child, 'close');
  if (code !== 0) throw new Error(stderr.trim() || `loadgen.c exited with ${code ?? signal}`);
  return JSON.parse(stdout);
}

/**
 * {@link echo}, run by the program {@link buildNativeLoadgen} built: the same loop, checks and
 * window, with the same result.
 *
 * @param {string} program
 * @param {Parameters<typeof echo>[0]} options
 * @returns {ReturnType<typeof echo>}
 */
export async function nativeEcho(program, options) {
  const result = await runNative(program, 'echo', options);
  return {
    roundTripsPerSec: ((result.roundTrips ?? 0) / options.durationMs) * 1000,
    p50Ms: result.p50Ms ?? Number.NaN,
    p99Ms: result.p99Ms ?? Number.NaN,
    roundTrips: result.roundTrips ?? 0,
    ...(result.serverCpu === undefined ? {} : { serverCpu: result.serverCpu }),
    loadgenCpu: result.loadgenCpu ?? Number.NaN,
  };
}

/**
 * {@link sessions}, run by the program {@link buildNativeLoadgen} built: the same sessions,
 * checks and window, with the same result.
 *
 * @param {string} program
 * @param {Parameters<typeof sessions>[0]} options
 * @returns {ReturnType<typeof sessions>}
 */
export async function nativeSessions(program, { concurrency, timeoutMs = 5_000, ...options }) {
  const result = await runNative(program, 'sessions', {
    ...options,
    connections: concurrency,
    timeoutMs,
  });
  return {
    sessionsPerSec: ((result.sessions ?? 0) / options.durationMs) * 1000,
    sessions: result.sessions ?? 0,
    ...(result.serverCpu === undefined ? {} : { serverCpu: result.serverCpu }),
    loadgenCpu: result.loadgenCpu ?? Number.NaN,
  };
}
