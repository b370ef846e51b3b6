import { constants as bufferConstants } from 'node:buffer';
import {
  deflateRawSync,
  inflateRawSync,
  type ZlibOptions,
  constants as zlibConstants,
} from 'node:zlib';
import { CloseCode } from './close-code.js';
import {
  HandshakeError,
  InvalidArgumentError,
  PayloadTooBigError,
  ProtocolError,
} from './errors.js';
import type { ExtensionOffer, PerMessageExtension } from './extension.js';

const EXTENSION_NAME = 'permessage-deflate';

/**
 * The empty stored block that ends every `Z_SYNC_FLUSH`. RFC 7692 §7.2.1 removes it from the last
 * fragment of a message and §7.2.2 appends it again before inflating.
 */
const TRAILER = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

const EMPTY = new Uint8Array(0);

/** §7.1.2.1 and §7.1.2.2: "a decimal integer value without leading zeroes between 8 to 15". */
const WINDOW_BITS_VALUE = /^(?:[89]|1[0-5])$/;

const MAX_WINDOW_BITS = 15;

/**
 * The smallest window our compressor can honour. zlib silently raises raw deflate `windowBits` 8
 * to 9 and documents the result as a 512-byte window (zlib.h, `deflateInit2`), so we never promise
 * to compress with a 256-byte one.
 */
const MIN_OWN_WINDOW_BITS = 9;

/**
 * What this endpoint asks for (client) or insists on (server) when negotiating permessage-deflate
 * (RFC 7692 §7.1), plus local compression settings. Every field is optional.
 *
 * The window bits options accept 9–15, not the 8–15 the RFC allows. zlib silently compresses
 * with 9 bits when asked for 8, so our compressor cannot promise 8; asking the peer for 8 is
 * refused too, since it would save at most 256 bytes of history here. Offers and responses in
 * which the peer announces 8 for its own compressor are still accepted: our decompressor handles
 * any window.
 */
export interface DeflateOptions {
  /** Ask (client) or require (server) that the server resets its compressor after each message. */
  readonly serverNoContextTakeover?: boolean;
  /**
   * Promise (client) or require (server) that the client resets its compressor after each
   * message.
   */
  readonly clientNoContextTakeover?: boolean;
  /** Limit the server's LZ77 window to 2^n bytes, 9–15. Defaults to 15 (32 KiB). */
  readonly serverMaxWindowBits?: number;
  /** Limit the client's LZ77 window to 2^n bytes, 9–15. Defaults to 15 (32 KiB). */
  readonly clientMaxWindowBits?: number;
  /** Messages whose first fragment has fewer bytes than this are sent as is. Default 1024. */
  readonly threshold?: number;
  /** zlib compression level, -1 (zlib's default, which is 6) to 9. Default -1. */
  readonly level?: number;
  /** zlib memory level, 1–9: more memory, faster and better compression. Default 8. */
  readonly memLevel?: number;
}

/**
 * The agreed parameters of a permessage-deflate session (RFC 7692 §7.1), with defaults filled in:
 * window bits are 15 when the handshake did not mention them.
 */
export interface DeflateParameters {
  /** The server resets its compressor after each message (§7.1.1.1). */
  readonly serverNoContextTakeover: boolean;
  /** The client resets its compressor after each message (§7.1.1.2). */
  readonly clientNoContextTakeover: boolean;
  /** The server compresses with an LZ77 window of at most 2^n bytes (§7.1.2.1), 8–15. */
  readonly serverMaxWindowBits: number;
  /** The client compresses with an LZ77 window of at most 2^n bytes (§7.1.2.2), 8–15. */
  readonly clientMaxWindowBits: number;
}

/** An accepted permessage-deflate offer: the header value to answer and the extension to use. */
export interface DeflateNegotiation {
  /** The `Sec-WebSocket-Extensions` value to send in the 101 response. */
  readonly response: string;
  /** The extension to hand to the protocol for this connection. */
  readonly extension: PerMessageDeflate;
}

/**
 * The permessage-deflate extension for one connection (RFC 7692 §7): compresses outgoing messages
 * and decompresses received messages whose first frame has RSV1 set.
 *
 * Compression is synchronous so that the protocol stays sans-I/O. Node's synchronous zlib calls
 * open a fresh stream each time, so context takeover is carried across messages as a preset
 * dictionary: each direction keeps the last 2^windowBits bytes (at most 32 KiB) of uncompressed
 * data, which is exactly what the peer's LZ77 window may refer back to. Get an instance from
 * {@link negotiateDeflate} (server) or {@link acceptDeflateResponse} (client) and give it to the
 * protocol, which calls `decode`, `shouldEncode` and `encode`.
 */
export class PerMessageDeflate implements PerMessageExtension {
  /** The extension token. */
  readonly name: typeof EXTENSION_NAME = EXTENSION_NAME;

  readonly #params: DeflateParameters;
  readonly #threshold: number;
  readonly #level: number;
  readonly #memLevel: number;
  readonly #encodeWindowBits: number;
  readonly #encodeNoContextTakeover: boolean;
  readonly #decodeWindowBits: number;
  readonly #decodeNoContextTakeover: boolean;
  // Copies, never views: a view would pin the whole buffer of a large message.
  #encodeHistory: Uint8Array = EMPTY;
  #decodeHistory: Uint8Array = EMPTY;

  /**
   * Create the extension from agreed parameters. `isServer` selects the direction: a server
   * compresses with the `server*` parameters and decompresses with the `client*` ones (§7.1: "The
   * extension parameters with the "server_" prefix are used by the server to configure its
   * compressor"). Usually called by the negotiation functions; throws `InvalidArgumentError` for
   * out-of-range parameters or options, including 8 window bits for our own compressor.
   */
  constructor(
    params: DeflateParameters,
    isServer: boolean,
    options: Pick<DeflateOptions, 'threshold' | 'level' | 'memLevel'> = {},
  ) {
    const ownWindowBits = isServer ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    const peerWindowBits = isServer ? params.clientMaxWindowBits : params.serverMaxWindowBits;
    const ownRole = isServer ? 'server' : 'client';
    const peerRole = isServer ? 'client' : 'server';
    checkInteger(`${ownRole}MaxWindowBits`, ownWindowBits, MIN_OWN_WINDOW_BITS, MAX_WINDOW_BITS);
    checkInteger(`${peerRole}MaxWindowBits`, peerWindowBits, 8, MAX_WINDOW_BITS);
    const tuning = resolveTuning(options);
    this.#params = Object.freeze({
      serverNoContextTakeover: params.serverNoContextTakeover,
      clientNoContextTakeover: params.clientNoContextTakeover,
      serverMaxWindowBits: params.serverMaxWindowBits,
      clientMaxWindowBits: params.clientMaxWindowBits,
    });
    this.#threshold = tuning.threshold;
    this.#level = tuning.level;
    this.#memLevel = tuning.memLevel;
    this.#encodeWindowBits = ownWindowBits;
    this.#decodeWindowBits = peerWindowBits;
    this.#encodeNoContextTakeover = isServer
      ? params.serverNoContextTakeover
      : params.clientNoContextTakeover;
    this.#decodeNoContextTakeover = isServer
      ? params.clientNoContextTakeover
      : params.serverNoContextTakeover;
  }

  /** The agreed parameters, for logging and tests; they never change during a connection. */
  get params(): DeflateParameters {
    return this.#params;
  }

  /**
   * Bytes of memory that the uncompressed history of each direction retains between calls: at
   * most 2^windowBits (32 KiB), and 0 after a message in a direction without context takeover.
   * For memory accounting and tests.
   */
  get historySize(): { readonly encode: number; readonly decode: number } {
    // The size of the backing buffer, not of the view, so that a pinned message would show.
    return {
      encode: this.#encodeHistory.buffer.byteLength,
      decode: this.#decodeHistory.buffer.byteLength,
    };
  }

  /**
   * Decompress the complete payload of a received message whose first frame had RSV1 set (all
   * fragments concatenated), following RFC 7692 §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff
   * to the tail end of the payload of the message. Decompress the resulting data using DEFLATE."
   *
   * Throws `PayloadTooBigError` (1009) as soon as the output would exceed `maxSize` bytes, having
   * produced at most one zlib chunk (16 KiB) beyond it, and `ProtocolError` with close code 1007
   * for data that is not valid DEFLATE. The protocol fails the connection on either; on success
   * it validates UTF-8 (text) and delivers the message.
   */
  decode(data: Uint8Array, maxSize: number): Uint8Array {
    const input = new Uint8Array(data.byteLength + TRAILER.byteLength);
    input.set(data);
    input.set(TRAILER, data.byteLength);
    const options: ZlibOptions = {
      // Always the largest window: it decodes streams made with any smaller one.
      windowBits: MAX_WINDOW_BITS,
      finishFlush: zlibConstants.Z_SYNC_FLUSH,
      // zlib accepts 1 to buffer.constants.MAX_LENGTH; 0 is enforced below.
      maxOutputLength: Math.min(Math.max(Math.floor(maxSize), 1), bufferConstants.MAX_LENGTH),
    };
    if (this.#decodeHistory.byteLength > 0) options.dictionary = this.#decodeHistory;
    let output: Uint8Array;
    try {
      output = inflateRawSync(input, options);
    } catch (error) {
      if (isBufferTooLarge(error)) {
        throw new PayloadTooBigError(`decompressed message exceeds ${maxSize} bytes`, {
          cause: error,
        });
      }
      throw new ProtocolError(
        'ERR_INVALID_COMPRESSED_DATA',
        'invalid compressed data',
        // RFC 7692 names no close code for corrupt data; like ws, use "invalid payload data".
        CloseCode.INVALID_PAYLOAD_DATA,
        { cause: error },
      );
    }
    if (output.byteLength > maxSize) {
      throw new PayloadTooBigError(`decompressed message exceeds ${maxSize} bytes`);
    }
    this.#decodeHistory = this.#decodeNoContextTakeover
      ? EMPTY
      : slideWindow(this.#decodeHistory, output, 2 ** this.#decodeWindowBits);
    return compact(output);
  }

  /**
   * Whether to compress an outgoing message whose first fragment has `size` bytes: true when
   * `size` reaches the threshold. If true, call `encode` for every fragment of that message and
   * set RSV1 on its first frame (§6); if false, send it as is, with RSV1 clear.
   */
  shouldEncode(size: number): boolean {
    return size >= this.#threshold;
  }

  /**
   * Compress one fragment of an outgoing message; `fin` is true for the last one. Call it in order
   * for every fragment of a message that `shouldEncode` accepted, and send each result as the
   * payload of the corresponding frame.
   *
   * Follows RFC 7692 §7.2.1: each fragment is flushed with an empty stored block, and for the last
   * fragment "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end". Earlier fragments
   * keep them, because the receiver inflates the concatenation. Runs synchronously, so a large
   * fragment blocks the caller, about 15 ms per MiB of text at the default level (measured by
   * benchmarks/deflate-stall.mjs); fragment large messages to bound the stall.
   */
  encode(data: Uint8Array, fin: boolean): Uint8Array {
    const options: ZlibOptions = {
      level: this.#level,
      memLevel: this.#memLevel,
      windowBits: this.#encodeWindowBits,
      strategy: zlibConstants.Z_DEFAULT_STRATEGY,
      // zlib.h: Z_SYNC_FLUSH "completes the current deflate block and follows it with an empty
      // stored block", so the output always ends with 00 00 ff ff and is byte-aligned.
      finishFlush: zlibConstants.Z_SYNC_FLUSH,
    };
    if (this.#encodeHistory.byteLength > 0) options.dictionary = this.#encodeHistory;
    const output = deflateRawSync(data, options);
    // Within a message the receiver's window always spans the earlier fragments, so keep them as
    // history until the message ends, even without context takeover.
    this.#encodeHistory =
      fin && this.#encodeNoContextTakeover
        ? EMPTY
        : slideWindow(this.#encodeHistory, data, 2 ** this.#encodeWindowBits);
    return compact(fin ? output.subarray(0, output.byteLength - TRAILER.byteLength) : output);
  }
}

/**
 * Build the `Sec-WebSocket-Extensions` value a client offers (RFC 7692 §5, §7.1). It always
 * advertises `client_max_window_bits`, so that the server may limit our window (§7.1.2.2).
 * Send it in the opening handshake, then pass the server's parsed answer and the same `options`
 * to {@link acceptDeflateResponse}. Throws `InvalidArgumentError` for invalid options.
 */
export function offerDeflate(options: DeflateOptions = {}): string {
  checkOptions(options);
  const params: string[] = [EXTENSION_NAME];
  if (options.serverNoContextTakeover === true) params.push('server_no_context_takeover');
  if (options.clientNoContextTakeover === true) params.push('client_no_context_takeover');
  if (options.serverMaxWindowBits !== undefined) {
    params.push(`server_max_window_bits=${options.serverMaxWindowBits}`);
  }
  params.push(
    options.clientMaxWindowBits === undefined
      ? 'client_max_window_bits'
      : `client_max_window_bits=${options.clientMaxWindowBits}`,
  );
  return params.join('; ');
}

/**
 * Check the server's `Sec-WebSocket-Extensions` answer (parsed) to an offer made by
 * {@link offerDeflate} with the same `options`. Returns the extension to give the protocol, or
 * null when the server accepted no extension; then send messages uncompressed.
 *
 * Throws `HandshakeError` (`ERR_HANDSHAKE_EXTENSION`, status 101) when the answer is unacceptable:
 * an extension we did not offer, permessage-deflate more than once, an unknown, duplicated or
 * invalid parameter, or a configuration we did not ask for or cannot use. RFC 7692 §7.1: "A client
 * MUST _Fail the WebSocket Connection_ if the peer server accepted an extension negotiation offer
 * for this extension with an extension negotiation response meeting any of the following
 * conditions"; the caller fails the connection.
 */
export function acceptDeflateResponse(
  response: readonly ExtensionOffer[],
  options: DeflateOptions = {},
): PerMessageDeflate | null {
  checkOptions(options);
  let accepted: ExtensionOffer | undefined;
  for (const element of response) {
    if (element.name !== EXTENSION_NAME) {
      throw refuseResponse(`the server accepted extension ${element.name}, which was not offered`);
    }
    // RFC 6455 §9.1: the server may only answer with extensions the client offered, and we
    // offered permessage-deflate once.
    if (accepted !== undefined) {
      throw refuseResponse(`the server accepted ${EXTENSION_NAME} more than once`);
    }
    accepted = element;
  }
  if (accepted === undefined) return null;

  const parsed = parseParams(accepted.params, 'response');
  if (typeof parsed === 'string') throw refuseResponse(parsed);

  // §7.1.1.1: "A server accepts an extension negotiation offer that includes the
  // "server_no_context_takeover" extension parameter by including the
  // "server_no_context_takeover" extension parameter in the corresponding extension negotiation
  // response". Without it, the server may take over context, which we asked it not to.
  if (options.serverNoContextTakeover === true && !parsed.serverNoContextTakeover) {
    throw refuseResponse('the server did not agree to server_no_context_takeover');
  }

  // §7.1.2.1: the server answers "with the same or smaller value as the offer"; an answer without
  // the parameter means 15, acceptable only if we offered 15 or nothing.
  const serverMaxWindowBits = parsed.serverMaxWindowBits ?? MAX_WINDOW_BITS;
  const requestedServerBits = options.serverMaxWindowBits ?? MAX_WINDOW_BITS;
  if (serverMaxWindowBits > requestedServerBits) {
    throw refuseResponse(
      `server_max_window_bits=${serverMaxWindowBits} exceeds the ${requestedServerBits} offered`,
    );
  }

  // §7.1.2.2: we always offer client_max_window_bits, so the server may answer it, with a value
  // no larger than ours. Without it we keep the limit we offered (or 15).
  const offeredClientBits = options.clientMaxWindowBits ?? MAX_WINDOW_BITS;
  // (parseParams never yields `true` for a response.)
  const clientMaxWindowBits =
    typeof parsed.clientMaxWindowBits === 'number' ? parsed.clientMaxWindowBits : offeredClientBits;
  if (clientMaxWindowBits > offeredClientBits) {
    throw refuseResponse(
      `client_max_window_bits=${clientMaxWindowBits} exceeds the ${offeredClientBits} offered`,
    );
  }
  if (clientMaxWindowBits < MIN_OWN_WINDOW_BITS) {
    throw refuseResponse(
      `client_max_window_bits=${clientMaxWindowBits} cannot be honoured: zlib needs at least 9`,
    );
  }

  return new PerMessageDeflate(
    {
      serverNoContextTakeover: parsed.serverNoContextTakeover,
      // §7.1.1.2: offering client_no_context_takeover is "a hint that even if the server doesn't
      // include the "client_no_context_takeover" extension parameter in the corresponding
      // extension negotiation response to the offer, the client is not going to use context
      // takeover", so keep our promise either way.
      clientNoContextTakeover:
        parsed.clientNoContextTakeover || options.clientNoContextTakeover === true,
      serverMaxWindowBits,
      clientMaxWindowBits,
    },
    false,
    options,
  );
}

/**
 * Pick the first permessage-deflate offer (parsed `Sec-WebSocket-Extensions` elements from the
 * client, in order of preference, RFC 7692 §5) that the server can honour with `options`. Returns
 * the response header value and the extension to give the protocol, or null when every offer was
 * declined; then answer without permessage-deflate and send messages uncompressed.
 *
 * Never throws on peer input. An offer is declined, as §7 requires ("A server MUST decline an
 * extension negotiation offer for this extension if any of the following conditions are met"),
 * when it has an unknown, duplicated or invalid parameter, or asks for a configuration we cannot
 * use: `server_max_window_bits=8`. Elements for other extensions are ignored. Throws
 * `InvalidArgumentError` only for invalid `options`.
 */
export function negotiateDeflate(
  offers: readonly ExtensionOffer[],
  options: DeflateOptions = {},
): DeflateNegotiation | null {
  checkOptions(options);
  for (const offer of offers) {
    if (offer.name !== EXTENSION_NAME) continue;
    const parsed = parseParams(offer.params, 'offer');
    if (typeof parsed === 'string') continue;

    // §7.1.2.1: accepting a server_max_window_bits offer means answering "with the same or
    // smaller value as the offer"; we may also announce a limit the client did not ask for.
    let serverMaxWindowBits = options.serverMaxWindowBits ?? MAX_WINDOW_BITS;
    let announceServerBits = options.serverMaxWindowBits !== undefined;
    if (parsed.serverMaxWindowBits !== undefined) {
      if (parsed.serverMaxWindowBits < MIN_OWN_WINDOW_BITS) continue;
      serverMaxWindowBits = Math.min(serverMaxWindowBits, parsed.serverMaxWindowBits);
      announceServerBits = true;
    }

    // §7.1.2.2: "If a received extension negotiation offer doesn't have the
    // "client_max_window_bits" extension parameter, the corresponding extension negotiation
    // response to the offer MUST NOT include the "client_max_window_bits" extension parameter."
    // Such a client may then use 15 bits, which we can decode, so the offer is still accepted.
    let clientMaxWindowBits = MAX_WINDOW_BITS;
    let announceClientBits = false;
    if (parsed.clientMaxWindowBits === true) {
      if (options.clientMaxWindowBits !== undefined) {
        clientMaxWindowBits = options.clientMaxWindowBits;
        announceClientBits = true;
      }
    } else if (parsed.clientMaxWindowBits !== undefined) {
      // The client promised this limit; repeat it (or lower it) so that both sides agree.
      clientMaxWindowBits = Math.min(
        options.clientMaxWindowBits ?? MAX_WINDOW_BITS,
        parsed.clientMaxWindowBits,
      );
      announceClientBits = true;
    }

    // §7.1.1.1: an accepted server_no_context_takeover offer MUST be echoed. A client's
    // client_no_context_takeover is echoed too, so that we can drop its history (§7.1.1.2 lets
    // the server "use the parameter to avoid taking over the LZ77 sliding window unnecessarily").
    const serverNoContextTakeover =
      parsed.serverNoContextTakeover || options.serverNoContextTakeover === true;
    const clientNoContextTakeover =
      parsed.clientNoContextTakeover || options.clientNoContextTakeover === true;

    const response: string[] = [EXTENSION_NAME];
    if (serverNoContextTakeover) response.push('server_no_context_takeover');
    if (clientNoContextTakeover) response.push('client_no_context_takeover');
    if (announceServerBits) response.push(`server_max_window_bits=${serverMaxWindowBits}`);
    if (announceClientBits) response.push(`client_max_window_bits=${clientMaxWindowBits}`);

    const extension = new PerMessageDeflate(
      {
        serverNoContextTakeover,
        clientNoContextTakeover,
        serverMaxWindowBits,
        clientMaxWindowBits,
      },
      true,
      options,
    );
    return { response: response.join('; '), extension };
  }
  return null;
}

/** The permessage-deflate parameters of one offer or response; window bits `true` = no value. */
interface ParsedParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  clientMaxWindowBits: number | true | undefined;
}

/**
 * Validate the parameters of one permessage-deflate element against §7.1. Returns the reason as
 * a string when the element must be declined (offer) or the connection failed (response).
 */
function parseParams(
  params: ExtensionOffer['params'],
  kind: 'offer' | 'response',
): ParsedParams | string {
  const parsed: ParsedParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (seen.has(name)) return `duplicate parameter ${name}`;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        // §7.1.1.1/§7.1.1.2: these parameters have no value.
        if (value !== true) return `${name} must not have a value`;
        if (name === 'server_no_context_takeover') parsed.serverNoContextTakeover = true;
        else parsed.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        // §7.1.2.1: always with a value, in offers and responses.
        const bits = parseWindowBits(value);
        if (bits === undefined) return `invalid ${name}`;
        parsed.serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits':
        // §7.1.2.2: an offer may omit the value; a response "MUST" have one.
        if (value === true && kind === 'offer') {
          parsed.clientMaxWindowBits = true;
        } else {
          const bits = parseWindowBits(value);
          if (bits === undefined) return `invalid ${name}`;
          parsed.clientMaxWindowBits = bits;
        }
        break;
      default:
        return `unknown parameter ${name}`;
    }
  }
  return parsed;
}

function parseWindowBits(value: string | true): number | undefined {
  return value !== true && WINDOW_BITS_VALUE.test(value) ? Number(value) : undefined;
}

function refuseResponse(reason: string): HandshakeError {
  return new HandshakeError(
    'ERR_HANDSHAKE_EXTENSION',
    `unacceptable ${EXTENSION_NAME} response: ${reason}`,
    101,
  );
}

/** The last `size` bytes of `history` followed by `data`, in a new buffer of its own. */
function slideWindow(history: Uint8Array, data: Uint8Array, size: number): Uint8Array {
  // Not `data.slice`: on a Buffer, slice is a view.
  if (data.byteLength >= size) {
    const window = new Uint8Array(size);
    window.set(data.subarray(data.byteLength - size));
    return window;
  }
  const kept = Math.min(history.byteLength, size - data.byteLength);
  const window = new Uint8Array(kept + data.byteLength);
  window.set(history.subarray(history.byteLength - kept));
  window.set(data, kept);
  return window;
}

/**
 * `data`, copied when it is a small view of a larger buffer. A sync zlib call that produces less
 * than one chunk returns a view of its 16 KiB output chunk; an application that keeps many small
 * messages would otherwise hold 16 KiB for each.
 */
function compact(data: Uint8Array): Uint8Array {
  // Not `data.slice()`: on a Buffer, slice is a view.
  return data.buffer.byteLength > 2 * data.byteLength ? new Uint8Array(data) : data;
}

function isBufferTooLarge(error: unknown): boolean {
  return (
    error instanceof RangeError && (error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE'
  );
}

function checkOptions(options: DeflateOptions): void {
  if (options.serverMaxWindowBits !== undefined) {
    checkInteger(
      'serverMaxWindowBits',
      options.serverMaxWindowBits,
      MIN_OWN_WINDOW_BITS,
      MAX_WINDOW_BITS,
    );
  }
  if (options.clientMaxWindowBits !== undefined) {
    checkInteger(
      'clientMaxWindowBits',
      options.clientMaxWindowBits,
      MIN_OWN_WINDOW_BITS,
      MAX_WINDOW_BITS,
    );
  }
  resolveTuning(options);
}

function resolveTuning(options: DeflateOptions): {
  threshold: number;
  level: number;
  memLevel: number;
} {
  const threshold = options.threshold ?? 1024;
  if (!(threshold >= 0)) {
    throw new InvalidArgumentError(`threshold must be a non-negative number, got ${threshold}`);
  }
  const level = options.level ?? zlibConstants.Z_DEFAULT_COMPRESSION;
  checkInteger('level', level, -1, 9);
  const memLevel = options.memLevel ?? zlibConstants.Z_DEFAULT_MEMLEVEL;
  checkInteger('memLevel', memLevel, 1, 9);
  return { threshold, level, memLevel };
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(
      `${name} must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
}
