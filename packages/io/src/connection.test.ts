import { Buffer } from 'node:buffer';
import { Duplex } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { encodeFrame, Opcode, Protocol, WebSocketClosedError } from '@gale/frame';
import { ManualClock } from '@gale/test-utils';
import { describe, expect, it } from 'vitest';
import {
  type CloseInfo,
  Connection,
  type ConnectionDelegate,
  type ConnectionSettings,
} from './connection.js';

// A socket whose writes complete only when the test says so (the peer "reads"), so that the
// bytes queued in it are exactly what the test made them.
class FakeSocket extends Duplex {
  // The writes under way: node:stream hands the next chunk over only once one completes.
  readonly held: ((error?: Error | null) => void)[] = [];
  // Every chunk written, in order, as soon as it is written (corked or not).
  readonly written: Buffer[] = [];
  isEnded = false;

  constructor() {
    super();
    const write = this.write as (...args: unknown[]) => boolean;
    this.write = ((...args: unknown[]) => {
      this.written.push(Buffer.from(args[0] as Uint8Array));
      return write.apply(this, args);
    }) as typeof this.write;
  }

  override _read(): void {}

  override _write(
    _chunk: Buffer,
    _encoding: string,
    callback: (error?: Error | null) => void,
  ): void {
    this.held.push(callback);
  }

  // As a socket does: a write under way when the socket is destroyed fails.
  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    for (const held of this.held.splice(0)) held(new Error('destroyed'));
    callback(error);
  }

  override _final(callback: () => void): void {
    this.isEnded = true;
    callback();
  }

  /** The peer takes `count` chunks from the queue (everything by default). */
  peerReads(count = Number.POSITIVE_INFINITY): void {
    for (let taken = 0; taken < count && this.held.length > 0; taken++) this.held.shift()!();
  }

  /** The opcodes of the frames written so far (server frames: unmasked). */
  opcodes(): number[] {
    const bytes = Buffer.concat(this.written);
    const opcodes: number[] = [];
    let pos = 0;
    while (pos < bytes.length) {
      opcodes.push(bytes[pos]! & 0x0f);
      let length = bytes[pos + 1]! & 0x7f;
      let header = 2;
      if (length === 126) {
        length = bytes.readUInt16BE(pos + 2);
        header = 4;
      } else if (length === 127) {
        length = Number(bytes.readBigUInt64BE(pos + 2));
        header = 10;
      }
      pos += header + length;
    }
    return opcodes;
  }

  /** The close code of the last Close frame written, if any. */
  closeCode(): number | undefined {
    const bytes = Buffer.concat(this.written);
    const at = bytes.lastIndexOf(Buffer.from([0x88]));
    return at === -1 || bytes[at + 1]! < 2 ? undefined : bytes.readUInt16BE(at + 2);
  }
}

// A client's masked frame, as the server reads it.
function clientFrame(opcode: number, payload: string | Uint8Array = ''): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat(
    encodeFrame(opcode as Opcode, data, { mask: () => new Uint8Array([1, 2, 3, 4]) }),
  );
}

interface Recorder extends ConnectionDelegate {
  readonly messages: (string | Uint8Array)[];
  readonly closes: CloseInfo[];
}

function recorder(onMessage?: (message: string | Uint8Array) => void | Promise<void>): Recorder {
  const messages: (string | Uint8Array)[] = [];
  const closes: CloseInfo[] = [];
  return {
    messages,
    closes,
    onMessage: (message) => {
      messages.push(message);
      return onMessage?.(message);
    },
    onPing: () => {},
    onPong: () => {},
    onClose: (info) => closes.push(info),
  };
}

function settings(
  clock: ManualClock,
  overrides: Partial<ConnectionSettings> = {},
): ConnectionSettings {
  return {
    clock,
    closeTimeout: 5_000,
    pingInterval: 0,
    pingTimeout: 0,
    writePolicy: 'turn',
    maxBufferedAmount: Number.POSITIVE_INFINITY,
    drainTimeout: 10_000,
    ...overrides,
  };
}

function open(
  delegate: ConnectionDelegate,
  overrides: Partial<ConnectionSettings> = {},
  maxMessageSize?: number,
): { socket: FakeSocket; connection: Connection; clock: ManualClock } {
  const clock = new ManualClock();
  const socket = new FakeSocket();
  const protocol = new Protocol({
    side: 'server',
    ...(maxMessageSize === undefined ? {} : { maxMessageSize }),
  });
  const connection = new Connection(socket, protocol, delegate, settings(clock, overrides));
  connection.start();
  return { socket, connection, clock };
}

const closedOnce = (socket: Duplex): Promise<void> =>
  new Promise((resolve) => socket.once('close', () => resolve()));

describe('the pump', () => {
  it("sends a handler's answer before the Close when a protocol error follows a message in one read", async () => {
    let connection!: Connection;
    const delegate = recorder((message) => void connection.send(`echo: ${message}`, false, false));
    const opened = open(delegate);
    connection = opened.connection;
    const { socket } = opened;
    socket.push(Buffer.concat([clientFrame(Opcode.TEXT, 'ok'), clientFrame(5, 'x')]));
    await nextTurn();
    await nextTurn();
    expect(delegate.messages).toEqual(['ok']);
    expect(socket.opcodes()).toEqual([Opcode.TEXT, Opcode.CLOSE]);
    expect(socket.closeCode()).toBe(1002);
  });

  it('lets an answer that comes a few microtasks later leave before the Close that follows the message', async () => {
    let connection!: Connection;
    // An async reader: the answer is written after awaits, and onMessage returns nothing.
    const delegate = recorder((message) => {
      void (async () => {
        for (let i = 0; i < 5; i++) await Promise.resolve();
        connection.send(`echo: ${message}`, false, false);
      })();
    });
    const opened = open(delegate);
    connection = opened.connection;
    const { socket } = opened;
    socket.push(Buffer.concat([clientFrame(Opcode.TEXT, 'ok'), clientFrame(5, 'x')]));
    await nextTurn();
    await nextTurn();
    await nextTurn();
    expect(socket.opcodes()).toEqual([Opcode.TEXT, Opcode.CLOSE]);
    expect(socket.closeCode()).toBe(1002);
  });

  it('holds back the next message, and a Close that follows, until an async onMessage settles', async () => {
    let connection!: Connection;
    let release!: () => void;
    const delegate = recorder(async (message) => {
      if (message === 'first') {
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        void connection.send('answer to first', false, false);
      }
    });
    const opened = open(delegate);
    connection = opened.connection;
    const { socket } = opened;
    socket.push(
      Buffer.concat([
        clientFrame(Opcode.TEXT, 'first'),
        clientFrame(Opcode.TEXT, 'second'),
        clientFrame(Opcode.CLOSE, Buffer.from([0x03, 0xe8])),
      ]),
    );
    await nextTurn();
    expect(delegate.messages).toEqual(['first']);
    expect(socket.isPaused()).toBe(true);
    expect(socket.written).toEqual([]);
    release();
    await nextTurn();
    await nextTurn();
    expect(delegate.messages).toEqual(['first', 'second']);
    // The answer went out before the Close echo.
    expect(socket.opcodes()).toEqual([Opcode.TEXT, Opcode.CLOSE]);
    expect(socket.closeCode()).toBe(1000);
  });

  it('stops delivering after onMessage throws, fails with 1011, and reports the error once closed', async () => {
    const boom = new Error('boom');
    const delegate = recorder(() => {
      throw boom;
    });
    const { socket, clock } = open(delegate);
    socket.push(Buffer.concat([clientFrame(Opcode.TEXT, 'a'), clientFrame(Opcode.TEXT, 'b')]));
    await nextTurn();
    await nextTurn();
    expect(delegate.messages).toEqual(['a']);
    expect(socket.closeCode()).toBe(1011);
    socket.peerReads();
    const closed = closedOnce(socket);
    clock.advance(5_000); // the close timer: the peer never answered
    await closed;
    expect(delegate.closes).toHaveLength(1);
    expect(delegate.closes[0]!.wasClean).toBe(false);
    expect(delegate.closes[0]!.error).toBe(boom);
  });

  it("calls onClose exactly once, after every message, with the peer's code and reason", async () => {
    const delegate = recorder();
    const { socket } = open(delegate);
    const closed = closedOnce(socket);
    socket.push(
      Buffer.concat([
        clientFrame(Opcode.TEXT, 'last words'),
        clientFrame(Opcode.CLOSE, Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.from('bye')])),
      ]),
    );
    await nextTurn();
    await nextTurn();
    socket.peerReads();
    socket.push(null); // the peer's FIN
    socket.destroy();
    await closed;
    expect(delegate.messages).toEqual(['last words']);
    expect(delegate.closes).toEqual([{ code: 4000, reason: 'bye', wasClean: true }]);
  });
});

describe('keepalive', () => {
  it('pings every interval, and calls pingTimedOut (1011 by default) without a Pong', async () => {
    const { socket, clock } = open(recorder(), { pingInterval: 1_000, pingTimeout: 500 });
    clock.advance(999);
    await nextTurn();
    expect(socket.opcodes()).toEqual([]);
    clock.advance(1);
    await nextTurn();
    expect(socket.opcodes()).toEqual([Opcode.PING]);
    clock.advance(499);
    await nextTurn();
    expect(socket.closeCode()).toBeUndefined();
    clock.advance(1);
    await nextTurn();
    expect(socket.closeCode()).toBe(1011);
  });

  it('keeps the connection while Pongs answer the Pings', async () => {
    const { socket, clock } = open(recorder(), { pingInterval: 1_000, pingTimeout: 500 });
    for (let i = 0; i < 5; i++) {
      clock.advance(1_000);
      await nextTurn();
      socket.push(clientFrame(Opcode.PONG));
      await nextTurn();
    }
    clock.advance(999);
    await nextTurn();
    expect(socket.opcodes()).toEqual(Array(5).fill(Opcode.PING));
    expect(socket.closeCode()).toBeUndefined();
  });
});

describe('the send-queue policy', () => {
  const policy = { maxBufferedAmount: 1_000, drainTimeout: 10_000 };

  it('sends any message up to maxMessageSize to a peer that reads, even far above maxBufferedAmount', async () => {
    const { socket, connection, clock } = open(recorder(), policy, 64 * 1024);
    const sent = connection.send(new Uint8Array(60 * 1024), true, true);
    await nextTurn();
    expect(connection.bufferedAmount).toBeGreaterThan(60 * 1024);
    clock.advance(9_999);
    socket.peerReads();
    await expect(sent).resolves.toBeUndefined();
    clock.advance(10_000);
    expect(connection.isClosed).toBe(false);
  });

  it('drops a peer that takes nothing from the queue for drainTimeout, rejecting what was unsent', async () => {
    const delegate = recorder();
    const { socket, connection, clock } = open(delegate, policy, 64 * 1024);
    const sent = connection.send(new Uint8Array(5_000), true, true);
    await nextTurn();
    clock.advance(9_999);
    expect(connection.isClosed).toBe(false);
    const closed = closedOnce(socket);
    clock.advance(1);
    await closed;
    await expect(sent).rejects.toBeInstanceOf(WebSocketClosedError);
    // Nothing could reach a peer that reads nothing: no Close frame was queued behind the data.
    expect(socket.opcodes()).toEqual([Opcode.BINARY]);
    expect(delegate.closes[0]!.error).toBeInstanceOf(WebSocketClosedError);
    expect(delegate.closes[0]!.error!.message).toMatch(/slow consumer/);
  });

  it('keeps watching a peer that reads, however slowly, and drops it once it stops', async () => {
    const { socket, connection, clock } = open(recorder(), policy, 64 * 1024);
    for (let i = 0; i < 4; i++) void connection.send(new Uint8Array(2_000), true, false);
    await nextTurn();
    socket.peerReads(1); // it reads one message in the first window…
    clock.advance(10_000);
    await nextTurn();
    expect(connection.isClosed).toBe(false); // …so the check at 10 s saw progress
    const closed = closedOnce(socket);
    clock.advance(10_000); // and none in the second window
    await closed;
  });

  it('stops watching once the queue drains', async () => {
    const { socket, connection, clock } = open(recorder(), policy, 64 * 1024);
    void connection.send(new Uint8Array(5_000), true, false);
    await nextTurn();
    socket.peerReads();
    await nextTurn();
    clock.advance(100_000);
    expect(connection.isClosed).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('fails with 1008 a peer that has read but whose queue outgrows the limit plus one message; the Close follows the queue', async () => {
    const { socket, connection } = open(recorder(), policy, 4_000);
    void connection.send(new Uint8Array(3_000), true, false);
    await nextTurn();
    socket.peerReads(); // the peer reads
    void connection.send(new Uint8Array(3_000), true, false);
    await nextTurn();
    void connection.send(new Uint8Array(3_000), true, false);
    await nextTurn();
    expect(connection.isClosed).toBe(false);
    expect(connection.isClosing).toBe(true);
    expect(socket.closeCode()).toBe(1008);
    expect(socket.opcodes()).toEqual([Opcode.BINARY, Opcode.BINARY, Opcode.BINARY, Opcode.CLOSE]);
    socket.peerReads();
    await nextTurn();
    expect(socket.isEnded).toBe(true);
    expect(() => connection.send('more', false, false)).toThrow(WebSocketClosedError);
  });

  it('drops at once a peer that has read nothing when its queue outgrows the limit plus one message', async () => {
    const { socket, connection } = open(recorder(), policy, 4_000);
    const closed = closedOnce(socket);
    void connection.send(new Uint8Array(3_000), true, false);
    void connection.send(new Uint8Array(3_000), true, false);
    await closed;
    expect(socket.closeCode()).toBeUndefined();
  });
});
