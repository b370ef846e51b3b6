import { Buffer } from 'node:buffer';
import { type CloseReason, parseClose, serializeClose } from './close.js';
import { CloseCode } from './close-code.js';
import {
  InvalidArgumentError,
  InvalidStateError,
  PayloadTooBigError,
  ProtocolError,
} from './errors.js';
import type { PerMessageExtension } from './extension.js';
import { encodeFrame, encodeSmallUnmaskedFrame, encodeTextFrame } from './frame.js';
import { applyMask, type MaskFunction, type MaskGenerator, randomMask } from './mask.js';
import { Opcode } from './opcode.js';
import { isValidUtf8, Utf8Validator } from './utf8.js';

/** Which end of the connection a {@link Protocol} plays. */
export type Side = 'server' | 'client';

/** Connection states, numbered as the WebSocket API's `readyState`. */
export const State = {
  OPEN: 1,
  CLOSING: 2,
  CLOSED: 3,
} as const;

/** One of {@link State}. */
export type State = (typeof State)[keyof typeof State];

/** The default maximum message size: 10 MiB, as Tornado's `websocket_max_message_size`. */
export const DEFAULT_MAX_MESSAGE_SIZE: number = 10 * 1024 * 1024;

/** Options for {@link Protocol}. */
export interface ProtocolOptions {
  /** The end this protocol plays: it decides masking (RFC 6455 §5.1) and who closes TCP first. */
  readonly side: Side;
  /**
   * Largest message accepted, in bytes, after decompression; larger ones fail the connection with
   * 1009: an uncompressed one as soon as a frame header announces it, a compressed one while it is
   * inflated. Its compressed bytes are limited too, from the frame headers, to the most that zlib
   * can turn `maxMessageSize` bytes into, with any settings: about 13.1% more, plus 9 bytes.
   * Default 10 MiB; `Infinity` for no limit.
   */
  readonly maxMessageSize?: number;
  /** The negotiated per-message extension (permessage-deflate), if any. */
  readonly extension?: PerMessageExtension | null;
  /** Source of masking keys for a client. Default: the CSPRNG ({@link randomMask}). */
  readonly generateMask?: MaskGenerator;
  /** A faster masking function for a client's outgoing frames (see `FrameOptions.maskPayload`). */
  readonly maskPayload?: MaskFunction | null;
  /**
   * Where a client builds its masked frames of 64 bytes or more (see `FrameOptions.allocate`).
   * Every frame it returns is in the next {@link dataToSend}.
   */
  readonly allocateFrame?: ((size: number) => Buffer) | null;
}

/** Options of {@link Protocol.receiveData}. */
export interface ReceiveOptions {
  /**
   * The caller keeps the bytes and may overwrite them once the call returns: whatever the
   * protocol delivers or keeps is copied out of them. Default false.
   */
  readonly borrowed?: boolean;
}

/** A complete text message. */
export interface TextEvent {
  readonly type: 'text';
  readonly data: string;
}
/** A complete binary message. */
export interface BinaryEvent {
  readonly type: 'binary';
  readonly data: Uint8Array;
}
/** A Ping frame; the protocol has already queued the Pong (§5.5.2). */
export interface PingEvent {
  readonly type: 'ping';
  readonly data: Uint8Array;
}
/** A Pong frame. */
export interface PongEvent {
  readonly type: 'pong';
  readonly data: Uint8Array;
}
/**
 * The peer's closing status, emitted once: the code and reason of its Close frame (1005 when it
 * had none), or 1006 when the connection ended or failed without one. No event follows it.
 */
export interface CloseEvent {
  readonly type: 'close';
  readonly code: number;
  readonly reason: string;
}

/** Everything {@link Protocol.eventsReceived} can return. */
export type ProtocolEvent = TextEvent | BinaryEvent | PingEvent | PongEvent | CloseEvent;

const ParseState = {
  HEADER: 0,
  PAYLOAD: 1,
  DISCARD: 2,
} as const;
type ParseState = (typeof ParseState)[keyof typeof ParseState];

const EMPTY = new Uint8Array(0);
// The first fragment buffer of a message of unknown final size. Growth is by doubling, capped by
// the frame and message sizes, so memory held tracks the bytes received, never the fragment count
// or a length a header merely announced.
const MIN_ASSEMBLY = 1024;
const MERGE_LIMIT = 1024;
const maskScratch = new Uint8Array(4);

// What eventsReceived() and dataToSend() return when there is nothing: shared, so frozen.
const NO_EVENTS: readonly ProtocolEvent[] = Object.freeze([]);
const NO_CHUNKS: readonly Uint8Array[] = Object.freeze([]);
// The frame options of every protocol that neither masks nor has a mask function (servers).
const UNMASKED = Object.freeze({ mask: null, maskPayload: null, allocate: null });

/** A copy of `view` in a buffer of its own (a Buffer, like the messages delivered as views). */
function copyOf(view: Uint8Array): Uint8Array {
  if (view.length === 0) return view;
  const copy = Buffer.allocUnsafeSlow(view.length);
  copy.set(view);
  return copy;
}

/**
 * The RFC 6455 protocol state machine for one open connection, without I/O (the model is
 * python-websockets' `Protocol`): bytes go in, events and bytes come out.
 *
 * The I/O layer loops: pass received bytes to {@link receiveData} (or {@link receiveEof} at end of
 * stream), then handle {@link eventsReceived}, write {@link dataToSend}, and close the transport
 * once {@link shouldCloseTransport} is true. Start a close timer when {@link closeExpected} turns
 * true. Sending methods only queue bytes for {@link dataToSend}.
 *
 * Peer errors never throw: they fail the connection (§7.1.7) with 1002, 1007, 1009 or 1011 and
 * leave the cause in {@link error}. Caller mistakes throw at once.
 */
export class Protocol {
  readonly side: Side;
  readonly maxMessageSize: number;
  // The most compressed bytes buffered for a compressed message (see maxCompressedSize).
  readonly #maxCompressedSize: number;
  readonly #extension: PerMessageExtension | null;
  readonly #generateMask: MaskGenerator | null;
  readonly #frameOptions: {
    mask: MaskGenerator | null;
    maskPayload: MaskFunction | null;
    allocate: ((size: number) => Buffer) | null;
  };
  readonly #isServer: boolean;

  // Null while empty: an idle connection holds no arrays.
  #events: ProtocolEvent[] | null = null;
  #output: Uint8Array[] | null = null;

  // Receiving: the frame being parsed.
  #parseState: ParseState = ParseState.HEADER;
  // Header bytes split across reads, and control payloads that arrive in pieces: both rare, so
  // allocated on first use (an idle connection holds neither).
  #head: Uint8Array | null = null;
  #headLength = 0;
  #fin = false;
  #opcode = 0;
  #masked = false;
  // The masking key as one 32-bit number: a 4-byte typed array per connection would cost ~200 bytes.
  #maskKey = 0;
  #payloadLength = 0;
  #payloadReceived = 0;
  #control: Uint8Array | null = null;
  // Whether the bytes being parsed belong to the caller (receiveData's `borrowed`).
  #borrowed = false;

  // Receiving: the message being assembled.
  #messageOpcode = 0; // 0: no fragmented message in progress.
  #messageCompressed = false;
  #assembly: Uint8Array = EMPTY;
  #assemblyLength = 0;
  #utf8: Utf8Validator | null = null;

  // Sending.
  #sendingFragmented = false;
  #sendingCompressed = false;

  // Closing.
  #closeSent = false;
  #closeReceived = false;
  #closeEventEmitted = false;
  #eofReceived = false;
  #transportClose = false;
  #error: ProtocolError | null = null;
  // The end of the input (a Close frame received, or a failure) while events parsed before it
  // still wait to be taken: it takes effect in the next eventsReceived() call (see #endInput).
  #deferred: (() => void) | null = null;

  constructor(options: ProtocolOptions) {
    this.side = options.side;
    this.#isServer = options.side === 'server';
    const max = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (!(max > 0)) throw new InvalidArgumentError('maxMessageSize must be positive');
    this.maxMessageSize = max;
    this.#maxCompressedSize = maxCompressedSize(max);
    this.#extension = options.extension ?? null;
    this.#generateMask = this.#isServer ? null : (options.generateMask ?? randomMask);
    const maskPayload = options.maskPayload ?? null;
    this.#frameOptions =
      this.#generateMask === null
        ? UNMASKED
        : { mask: this.#generateMask, maskPayload, allocate: options.allocateFrame ?? null };
  }

  /** The connection state: OPEN until a Close frame is sent or received, CLOSED after EOF. */
  get state(): State {
    if (this.#eofReceived) return State.CLOSED;
    return this.#closeSent || this.#closeReceived ? State.CLOSING : State.OPEN;
  }

  /** Why the protocol failed the connection, or null. Read it after a 1002/1007/1009/1011 close. */
  get error(): ProtocolError | null {
    return this.#error;
  }

  /**
   * Bytes of memory held for the message being received (its fragments so far). It grows with the
   * bytes that arrived, at most doubling them, never with the fragment count or announced lengths.
   */
  get receiveBufferSize(): number {
    return this.#assembly.length;
  }

  /**
   * Whether a Close frame or a protocol error waits behind events not yet handled: it takes
   * effect in the next {@link eventsReceived} call. An I/O layer may let the application answer
   * the events it just took first, even a little later (an async reader), before it calls again.
   */
  get isEndHeldBack(): boolean {
    return this.#deferred !== null;
  }

  /** Whether a Close frame was sent. */
  get closeSent(): boolean {
    return this.#closeSent;
  }

  /** Whether a Close frame was received. */
  get closeReceived(): boolean {
    return this.#closeReceived;
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  /**
   * Feeds bytes received from the network, in any chunking. Afterwards call
   * {@link eventsReceived}, then {@link dataToSend} (a Ping is answered, a Close echoed).
   *
   * The protocol takes ownership of `data`: masked payloads are unmasked in place, and delivered
   * messages may be views of it. With `{ borrowed: true }` the caller keeps `data` and may
   * overwrite it once the call returns (a read buffer shared between reads): payloads are still
   * unmasked in place, but binary messages and control payloads are copied out, so nothing the
   * protocol returns or keeps is a view of it. Text is decoded to a string either way. Throws
   * only `InvalidStateError`, after {@link receiveEof}.
   */
  receiveData(data: Uint8Array, options?: ReceiveOptions): void {
    if (this.#eofReceived) throw new InvalidStateError('receiveData() after receiveEof()');
    if (this.#parseState === ParseState.DISCARD) return;
    this.#borrowed = options?.borrowed === true;
    try {
      this.#parse(data);
    } catch (error) {
      if (error instanceof ProtocolError) {
        const failure = error;
        this.#endInput(() => this.fail(failure.closeCode, failure.message, failure));
      } else {
        // Anything unexpected is 1011, and its details stay local: they "may be
        // security-sensitive" (python-websockets) and mean nothing to the peer.
        const failure = new ProtocolError(
          'ERR_INTERNAL',
          'internal error',
          CloseCode.INTERNAL_ERROR,
          {
            cause: error,
          },
        );
        this.#endInput(() => this.fail(CloseCode.INTERNAL_ERROR, '', failure));
      }
    }
  }

  /**
   * Signals that the peer closed its end of the transport. Afterwards call
   * {@link eventsReceived}: a connection that ends without a Close frame reports 1006 and sends
   * nothing (§7.1.5: "the WebSocket Connection is Closed" with code 1006).
   */
  receiveEof(): void {
    if (this.#eofReceived) return;
    this.#runDeferred();
    this.#eofReceived = true;
    this.#parseState = ParseState.DISCARD;
    this.#transportClose = true;
    if (!this.#closeReceived && this.#error === null) {
      this.#error = new ProtocolError(
        'ERR_UNEXPECTED_EOF',
        'connection closed without a close frame',
        CloseCode.ABNORMAL_CLOSURE,
      );
    }
    this.#emitClose(CloseCode.ABNORMAL_CLOSURE, '');
  }

  /**
   * Returns the events parsed since the last call, in order, and forgets them. The array is the
   * caller's to read (when there are none it is a shared, frozen empty array).
   *
   * Handle the events, then call it again until it returns an empty array: when a Close frame
   * arrives, or the peer breaks the protocol, after messages that are still waiting here, the
   * Close frame is echoed (or the connection failed) only in the call after the one that returns
   * those messages. What the application sends in answer to them in between leaves before the
   * Close frame.
   */
  eventsReceived(): readonly ProtocolEvent[] {
    if (this.#events === null) {
      this.#runDeferred();
      if (this.#events === null) return NO_EVENTS;
    }
    const events = this.#events;
    this.#events = null;
    return events;
  }

  // A Close frame or a failure ends the input: nothing after it is parsed. If events parsed before
  // it still wait to be taken, it waits until they have been (eventsReceived), so that the
  // application can answer them first: a peer that sends a message and then breaks the protocol
  // still gets the answer to the message before the Close frame (the order ws keeps, since it
  // emits each message as soon as it is parsed, and that the Autobahn|Testsuite calls strict).
  #endInput(action: () => void): void {
    this.#parseState = ParseState.DISCARD;
    if (this.#events === null) action();
    else this.#deferred = action;
  }

  #runDeferred(): void {
    const deferred = this.#deferred;
    if (deferred === null) return;
    this.#deferred = null;
    deferred();
  }

  #emit(event: ProtocolEvent): void {
    if (this.#events === null) this.#events = [event];
    else this.#events.push(event);
  }

  #parse(data: Uint8Array): void {
    const end = data.length;
    let pos = 0;
    while (pos < end) {
      if (this.#parseState === ParseState.HEADER) {
        if (this.#headLength === 0 && end - pos >= 2) {
          const need = headerSize(data[pos + 1]!);
          if (end - pos >= need) {
            this.#readHeader(data, pos);
            pos += need;
            if (this.#payloadLength === 0) this.#completeFrame(EMPTY);
            continue;
          }
        }
        // A header split across reads: gather it in #head.
        this.#head ??= new Uint8Array(14);
        const head = this.#head;
        head[this.#headLength++] = data[pos++]!;
        if (this.#headLength >= 2 && this.#headLength === headerSize(head[1]!)) {
          this.#headLength = 0;
          this.#readHeader(head, 0);
          if (this.#payloadLength === 0) this.#completeFrame(EMPTY);
        }
        continue;
      }
      if (this.#parseState === ParseState.DISCARD) return;

      // PAYLOAD
      const remaining = this.#payloadLength - this.#payloadReceived;
      const available = end - pos;
      if (this.#payloadReceived === 0 && available >= remaining && !this.#needsAssembly()) {
        // The whole payload is here: unmask it in place and deliver a view, no copy.
        const payload = data.subarray(pos, pos + remaining);
        if (this.#masked) applyMask(payload, 0, remaining, this.#mask(), 0, payload, 0);
        pos += remaining;
        this.#completeFrame(payload);
        continue;
      }
      const take = Math.min(available, remaining);
      this.#appendPayload(data, pos, take);
      pos += take;
      if (this.#payloadReceived === this.#payloadLength) this.#completeFrame(null);
    }
  }

  // Whether the current frame's payload must be copied into a buffer even when it arrived whole:
  // continuation and non-final frames join a fragmented message.
  #needsAssembly(): boolean {
    return this.#opcode < 0x8 && (!this.#fin || this.#opcode === Opcode.CONTINUATION);
  }

  #readHeader(buf: Uint8Array, at: number): void {
    const b0 = buf[at]!;
    const b1 = buf[at + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let offset = at + 2;

    // §5.2: "MUST be 0 unless an extension is negotiated that defines meanings for non-zero
    // values." Only permessage-deflate exists, and it uses RSV1 on the first frame of a data
    // message (RFC 7692 §6: "an endpoint MUST NOT set the RSV1 bit" on control or continuation
    // frames, hence 1002 there too).
    const rsv = b0 & 0x70;
    if (rsv !== 0) {
      if (
        rsv !== 0x40 ||
        this.#extension === null ||
        opcode === Opcode.CONTINUATION ||
        opcode >= 0x8
      ) {
        throw new ProtocolError('ERR_UNEXPECTED_RSV', 'reserved bits must be 0');
      }
    }

    if (opcode >= 0x8) {
      if (opcode > Opcode.PONG) {
        throw new ProtocolError('ERR_INVALID_OPCODE', `reserved opcode ${opcode}`);
      }
      // §5.5: control frames "MUST have a payload length of 125 bytes or less and MUST NOT be
      // fragmented".
      if (!fin) throw new ProtocolError('ERR_FRAGMENTED_CONTROL_FRAME', 'fragmented control frame');
      if (length > 125)
        throw new ProtocolError('ERR_CONTROL_FRAME_TOO_LONG', 'control frame too long');
    } else if (opcode === Opcode.CONTINUATION) {
      if (this.#messageOpcode === 0) {
        throw new ProtocolError(
          'ERR_UNEXPECTED_CONTINUATION',
          'continuation frame without a message',
        );
      }
    } else if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) {
      if (this.#messageOpcode !== 0) {
        throw new ProtocolError('ERR_EXPECTED_CONTINUATION', 'new message inside a fragmented one');
      }
    } else {
      throw new ProtocolError('ERR_INVALID_OPCODE', `reserved opcode ${opcode}`);
    }

    // §5.1: "a server MUST close the connection upon receiving a frame that is not masked" and "a
    // client MUST close a connection if it detects a masked frame".
    if (masked !== this.#isServer) {
      throw this.#isServer
        ? new ProtocolError('ERR_EXPECTED_MASK', 'client frame is not masked')
        : new ProtocolError('ERR_UNEXPECTED_MASK', 'server frame is masked');
    }

    if (length === 126) {
      length = (buf[offset]! << 8) | buf[offset + 1]!;
      offset += 2;
    } else if (length === 127) {
      const high =
        ((buf[offset]! << 24) |
          (buf[offset + 1]! << 16) |
          (buf[offset + 2]! << 8) |
          buf[offset + 3]!) >>>
        0;
      const low =
        ((buf[offset + 4]! << 24) |
          (buf[offset + 5]! << 16) |
          (buf[offset + 6]! << 8) |
          buf[offset + 7]!) >>>
        0;
      offset += 8;
      // §5.2: "the most significant bit MUST be 0".
      if (high >= 0x8000_0000) {
        throw new ProtocolError('ERR_INVALID_LENGTH', '64-bit payload length with the top bit set');
      }
      length = high * 0x1_0000_0000 + low;
    }

    if (opcode < 0x8) {
      // Refuse an oversized message from its header, before any payload arrives. A compressed
      // message is judged by its inflated size, in #deliver; here only its compressed bytes are
      // bounded, by the most that a message of maxMessageSize bytes can deflate to, since a
      // stream of empty deflate blocks could otherwise be buffered without end.
      const compressed = opcode === Opcode.CONTINUATION ? this.#messageCompressed : rsv !== 0;
      const total = (opcode === Opcode.CONTINUATION ? this.#assemblyLength : 0) + length;
      if (compressed ? total > this.#maxCompressedSize : total > this.maxMessageSize) {
        throw new PayloadTooBigError(
          compressed
            ? `compressed message over ${this.#maxCompressedSize} bytes`
            : `message over ${this.maxMessageSize} bytes`,
        );
      }
      if (opcode !== Opcode.CONTINUATION) {
        this.#messageCompressed = rsv !== 0;
        if (!fin) {
          this.#messageOpcode = opcode;
          this.#assemblyLength = 0;
        }
        if (opcode === Opcode.TEXT && !this.#messageCompressed) {
          this.#utf8 ??= new Utf8Validator();
          this.#utf8.reset();
        }
      }
    }

    if (masked) {
      this.#maskKey =
        ((buf[offset]! << 24) |
          (buf[offset + 1]! << 16) |
          (buf[offset + 2]! << 8) |
          buf[offset + 3]!) >>>
        0;
    }
    this.#fin = fin;
    this.#opcode = opcode;
    this.#masked = masked;
    this.#payloadLength = length;
    this.#payloadReceived = 0;
    this.#parseState = ParseState.PAYLOAD;
  }

  // Copies part of a payload that did not arrive whole (or joins a fragmented message), unmasking
  // and validating it on the way so that invalid UTF-8 fails now, not at the end of the message.
  #appendPayload(data: Uint8Array, pos: number, count: number): void {
    const phase = this.#payloadReceived;
    if (this.#opcode >= 0x8) {
      this.#control ??= new Uint8Array(125);
      const target = this.#control;
      if (this.#masked) applyMask(data, pos, pos + count, this.#mask(), phase, target, phase);
      else target.set(data.subarray(pos, pos + count), phase);
      this.#payloadReceived += count;
      return;
    }
    const start = this.#assemblyLength;
    this.#reserve(start + count);
    const target = this.#assembly;
    if (this.#masked) applyMask(data, pos, pos + count, this.#mask(), phase, target, start);
    else target.set(data.subarray(pos, pos + count), start);
    this.#assemblyLength = start + count;
    this.#payloadReceived += count;
    if (this.#isTextInProgress() && !this.#utf8!.write(target, start, start + count)) {
      throw invalidUtf8();
    }
  }

  // The masking key as bytes, for applyMask, in a buffer shared by every protocol (used at once).
  #mask(): Uint8Array {
    const key = this.#maskKey;
    maskScratch[0] = key >>> 24;
    maskScratch[1] = (key >>> 16) & 0xff;
    maskScratch[2] = (key >>> 8) & 0xff;
    maskScratch[3] = key & 0xff;
    return maskScratch;
  }

  #isTextInProgress(): boolean {
    const opcode = this.#opcode === Opcode.CONTINUATION ? this.#messageOpcode : this.#opcode;
    return opcode === Opcode.TEXT && !this.#messageCompressed;
  }

  #reserve(needed: number): void {
    const capacity = this.#assembly.length;
    if (needed <= capacity) return;
    // Grow geometrically, but never beyond the end of the current frame: a header announcing a
    // large frame reserves nothing until its bytes arrive.
    const frameEnd = this.#assemblyLength + (this.#payloadLength - this.#payloadReceived);
    let size = Math.max(capacity * 2, MIN_ASSEMBLY, needed);
    // The last frame of a message: once a quarter of it is here, take the rest in one step.
    if (this.#fin && (size > frameEnd || frameEnd <= needed * 4)) size = frameEnd;
    const limit = this.#messageCompressed ? this.#maxCompressedSize : this.maxMessageSize;
    if (size > limit) size = Math.max(needed, limit);
    const next = Buffer.allocUnsafeSlow(size);
    if (this.#assemblyLength !== 0) next.set(this.#assembly.subarray(0, this.#assemblyLength));
    this.#assembly = next;
  }

  // `payload` is the whole payload when it arrived in one piece, or null when it was gathered by
  // #appendPayload.
  #completeFrame(payload: Uint8Array | null): void {
    this.#parseState = ParseState.HEADER;
    const opcode = this.#opcode;
    if (opcode >= 0x8) {
      this.#handleControl(
        opcode,
        payload === null
          ? this.#control!.slice(0, this.#payloadLength)
          : this.#borrowed
            ? copyOf(payload)
            : payload,
      );
      return;
    }
    if (payload !== null && this.#fin && opcode !== Opcode.CONTINUATION) {
      // A whole unfragmented message. Only a binary one is delivered as it is: text becomes a
      // string and a compressed message is inflated into a new buffer.
      const mustCopy = this.#borrowed && opcode === Opcode.BINARY && !this.#messageCompressed;
      this.#deliver(opcode, mustCopy ? copyOf(payload) : payload, this.#messageCompressed, true);
      return;
    }
    if (payload !== null) {
      // A whole frame that joins a fragmented message (an empty one never reaches #appendPayload).
      this.#appendPayload(payload, 0, payload.length);
    }
    if (!this.#fin) return;
    // The last fragment (or a single frame that arrived in pieces).
    const messageOpcode = opcode === Opcode.CONTINUATION ? this.#messageOpcode : opcode;
    const message = this.#assembly.subarray(0, this.#assemblyLength);
    this.#assembly = EMPTY;
    this.#assemblyLength = 0;
    this.#messageOpcode = 0;
    this.#deliver(messageOpcode, message, this.#messageCompressed, false);
  }

  #deliver(opcode: number, data: Uint8Array, compressed: boolean, unvalidated: boolean): void {
    if (compressed) {
      // The compressed form is bounded by the header checks; the extension bounds the inflated
      // size, which is the message's size.
      data = this.#extension!.decode(data, this.maxMessageSize);
      unvalidated = true;
    }
    if (opcode === Opcode.TEXT) {
      if (unvalidated ? !isValidUtf8(data) : !this.#utf8!.end()) throw invalidUtf8();
      this.#emit({ type: 'text', data: decodeUtf8(data) });
    } else {
      this.#emit({ type: 'binary', data });
    }
  }

  #handleControl(opcode: number, payload: Uint8Array): void {
    if (opcode === Opcode.PING) {
      this.#emit({ type: 'ping', data: payload });
      // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response,
      // unless it already received a Close frame." Nothing follows our own Close either.
      if (!this.#closeSent) this.#sendFrame(Opcode.PONG, payload, true, false);
    } else if (opcode === Opcode.PONG) {
      this.#emit({ type: 'pong', data: payload });
    } else {
      const { code, reason } = parseClose(payload);
      // Nothing after a Close frame is data (§5.5.1: it is the last frame an endpoint sends).
      this.#endInput(() => this.#receiveClose(code, reason, payload));
    }
  }

  #receiveClose(code: number, reason: string, payload: Uint8Array): void {
    this.#closeReceived = true;
    this.#emitClose(code, reason);
    if (!this.#closeSent) {
      // §5.5.1: "the endpoint MUST send a Close frame in response. (When sending a Close frame
      // in response, the endpoint typically echos the status code it received.)"
      this.#sendFrame(
        Opcode.CLOSE,
        code === CloseCode.NO_STATUS_RCVD ? EMPTY : payload.subarray(0, 2),
        true,
        false,
      );
      this.#closeSent = true;
    }
    // §7.1.1: "the server [...] SHOULD close the underlying TCP connection first", once the
    // closing handshake is complete; the client waits for it (see closeExpected()).
    if (this.#isServer) this.#transportClose = true;
  }

  #emitClose(code: number, reason: string): void {
    if (this.#closeEventEmitted) return;
    this.#closeEventEmitted = true;
    this.#emit({ type: 'close', code, reason });
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  /**
   * Queues a text message, or its first fragment when `fin` is false (then send the rest with
   * {@link sendContinuation}). A Uint8Array must already be UTF-8. Then call {@link dataToSend}.
   * Throws `InvalidStateError` once a Close frame was sent or while a fragmented message is open.
   */
  sendText(data: string | Uint8Array, fin = true): void {
    this.#checkCanSendData(false);
    if (typeof data === 'string' && this.#extension === null) {
      this.#sendingFragmented = !fin;
      this.#push(
        encodeTextFrame(data, fin ? this.#frameOptions : { ...this.#frameOptions, fin: false }),
      );
      return;
    }
    this.#sendData(Opcode.TEXT, typeof data === 'string' ? Buffer.from(data, 'utf8') : data, fin);
  }

  /** Queues a binary message, or its first fragment when `fin` is false; as {@link sendText}. */
  sendBinary(data: Uint8Array, fin = true): void {
    this.#checkCanSendData(false);
    this.#sendData(Opcode.BINARY, data, fin);
  }

  /** Queues the next fragment of the message started with `fin = false`; `fin` ends it. */
  sendContinuation(data: Uint8Array, fin: boolean): void {
    this.#checkCanSendData(true);
    this.#sendData(Opcode.CONTINUATION, data, fin);
  }

  /** Queues a Ping (at most 125 bytes: `InvalidArgumentError` beyond). Then call {@link dataToSend}. */
  sendPing(data: Uint8Array = EMPTY): void {
    this.#checkCanSendControl(data);
    this.#sendFrame(Opcode.PING, data, true, false);
  }

  /** Queues an unsolicited Pong, as a heartbeat (§5.5.3). Then call {@link dataToSend}. */
  sendPong(data: Uint8Array = EMPTY): void {
    this.#checkCanSendControl(data);
    this.#sendFrame(Opcode.PONG, data, true, false);
  }

  /**
   * Starts the closing handshake (§7.1.2): queues a Close frame with `code` and `reason` (a reason
   * without a code means 1000; neither sends an empty Close, reported as 1005). Then call
   * {@link dataToSend} and start a close timer ({@link closeExpected}). Throws
   * `InvalidArgumentError` for a code that may not be sent or a reason over 123 bytes, and
   * `InvalidStateError` if a Close frame was already sent.
   */
  sendClose(code?: number, reason: CloseReason = ''): void {
    if (this.#closeSent) throw new InvalidStateError('a close frame was already sent');
    const payload = serializeClose(code, reason);
    this.#sendFrame(Opcode.CLOSE, payload, true, false);
    this.#closeSent = true;
    if (this.#closeReceived && this.#isServer) this.#transportClose = true;
  }

  /**
   * Fails the WebSocket connection (§7.1.7): sends a Close frame with `code` unless one was sent
   * (or `code` is 1006, which is never sent), ignores all further input, and asks the I/O layer to
   * close the transport (the server at once; a client after the server has, §7.1.1). `error` is
   * kept in {@link Protocol.error}. Then call {@link eventsReceived} and {@link dataToSend}.
   */
  fail(code: number, reason = '', error?: ProtocolError): void {
    this.#error ??=
      error ?? new ProtocolError('ERR_INTERNAL', reason || `failed with ${code}`, code);
    if (!this.#closeSent && code !== CloseCode.ABNORMAL_CLOSURE) {
      this.#sendFrame(Opcode.CLOSE, serializeClose(code, truncateReason(reason)), true, false);
      this.#closeSent = true;
    }
    if (this.#isServer) this.#transportClose = true;
    this.#parseState = ParseState.DISCARD;
    this.#emitClose(CloseCode.ABNORMAL_CLOSURE, '');
  }

  /**
   * Returns the bytes to write to the network, in order, and forgets them. Write them all (corked,
   * when there are several), then close the transport if {@link shouldCloseTransport} is true.
   */
  dataToSend(): readonly Uint8Array[] {
    const output = this.#output;
    if (output === null) return NO_CHUNKS;
    this.#output = null;
    return output;
  }

  /**
   * Whether the I/O layer should close the transport once it has written {@link dataToSend}: the
   * server after the closing handshake or a failure, either side after EOF.
   */
  shouldCloseTransport(): boolean {
    return this.#transportClose;
  }

  /**
   * Whether the transport is expected to close soon, so the I/O layer should start a timer and
   * close it itself if the peer does not (python-websockets' `close_expected`): true once a Close
   * frame was sent or received.
   */
  closeExpected(): boolean {
    return this.#closeSent || this.#closeReceived || this.#transportClose;
  }

  #checkCanSendData(continuation: boolean): void {
    if (this.#closeSent || this.#closeReceived || this.#eofReceived) {
      // §5.5.1: "After sending a Close frame, the endpoint MUST NOT send any further data frames."
      throw new InvalidStateError('cannot send data: the connection is closing or closed');
    }
    if (continuation !== this.#sendingFragmented) {
      throw new InvalidStateError(
        continuation
          ? 'sendContinuation() without a fragmented message in progress'
          : 'a fragmented message is in progress: use sendContinuation()',
      );
    }
  }

  #checkCanSendControl(data: Uint8Array): void {
    if (this.#closeSent || this.#eofReceived) {
      throw new InvalidStateError('cannot send: a close frame was already sent');
    }
    if (data.length > 125) throw new InvalidArgumentError('control frame payload over 125 bytes');
  }

  #sendData(opcode: number, data: Uint8Array, fin: boolean): void {
    let rsv1 = false;
    if (opcode !== Opcode.CONTINUATION) {
      this.#sendingCompressed = this.#extension?.shouldEncode(data.length) === true;
      rsv1 = this.#sendingCompressed;
    }
    const payload = this.#sendingCompressed ? this.#extension!.encode(data, fin) : data;
    this.#sendingFragmented = !fin;
    this.#sendFrame(opcode, payload, fin, rsv1);
  }

  #sendFrame(opcode: number, payload: Uint8Array, fin: boolean, rsv1: boolean): void {
    if (this.#generateMask === null && payload.length <= MERGE_LIMIT) {
      // A small payload is cheaper to copy behind its header than to write as a second chunk.
      const frame = encodeSmallUnmaskedFrame(opcode, payload, fin, rsv1);
      if (this.#output === null) this.#output = [frame];
      else this.#output.push(frame);
      return;
    }
    this.#push(
      encodeFrame(opcode as Opcode, payload, {
        fin,
        rsv1,
        mask: this.#generateMask,
        maskPayload: this.#frameOptions.maskPayload,
        allocate: this.#frameOptions.allocate,
      }),
    );
  }

  #push(chunks: Uint8Array[]): void {
    const output = this.#output;
    if (output === null) this.#output = chunks;
    else for (const chunk of chunks) output.push(chunk);
  }
}

/**
 * The most compressed bytes a permessage-deflate message of `maxSize` bytes may need: zlib's
 * `deflateBound()` for a stream whose parameters it does not know (zlib 1.3.1 deflate.c: the
 * larger of its bounds for fixed-code blocks of 9-bit literals, about 13%, and for short stored
 * blocks, about 4%), plus 5 bytes for one empty stored block (a sync flush's, which that bound,
 * made for a stream ended by `Z_FINISH`, does not count). The peer's level, memory level, window
 * and strategy are unknown, and zlib's tight bound (about 0.03%) only holds for its defaults: with
 * a 512-byte window, random data grows by about 5.5%, and bytes 144–255 under `Z_FIXED` by 12.6%.
 * Each fragment that the peer compresses and flushes on its own adds about 10 bytes more, so a
 * message sent in many small compressed fragments can be refused though it inflates to less.
 */
function maxCompressedSize(maxSize: number): number {
  const n = Math.floor(maxSize);
  const fixedBlocks = n + Math.floor(n / 8) + Math.floor(n / 256) + Math.floor(n / 512) + 4;
  const storedBlocks = n + Math.floor(n / 32) + Math.floor(n / 128) + Math.floor(n / 2048) + 7;
  return Math.max(fixedBlocks, storedBlocks) + 5;
}

// Header size from its second byte: 2, plus 2 or 8 extended length bytes, plus 4 for the mask.
function headerSize(b1: number): number {
  const length = b1 & 0x7f;
  return (length < 126 ? 2 : length === 126 ? 4 : 10) + (b1 & 0x80 ? 4 : 0);
}

function invalidUtf8(): ProtocolError {
  return new ProtocolError(
    'ERR_INVALID_UTF8',
    'invalid UTF-8 in text message',
    CloseCode.INVALID_PAYLOAD_DATA,
  );
}

function decodeUtf8(data: Uint8Array): string {
  if (data.length === 0) return '';
  const buffer = Buffer.isBuffer(data)
    ? data
    : Buffer.from(data.buffer, data.byteOffset, data.length);
  return buffer.toString('utf8');
}

// A failure reason is ours to choose, but still has to fit a control frame.
function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let cut = reason.slice(0, 120);
  while (Buffer.byteLength(cut) > 120) cut = cut.slice(0, -1);
  return `${cut}...`;
}
