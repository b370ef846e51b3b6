import { CloseCode } from './close-code.js';

/** The codes of {@link ProtocolError}: the peer broke RFC 6455 or RFC 7692. */
export type ProtocolErrorCode =
  // Protocol violations (closed with 1002 unless noted).
  | 'ERR_INVALID_OPCODE'
  | 'ERR_EXPECTED_MASK'
  | 'ERR_UNEXPECTED_MASK'
  | 'ERR_UNEXPECTED_RSV'
  | 'ERR_INVALID_LENGTH'
  | 'ERR_CONTROL_FRAME_TOO_LONG'
  | 'ERR_FRAGMENTED_CONTROL_FRAME'
  | 'ERR_UNEXPECTED_CONTINUATION'
  | 'ERR_EXPECTED_CONTINUATION'
  | 'ERR_INVALID_CLOSE_PAYLOAD'
  | 'ERR_INVALID_CLOSE_CODE'
  | 'ERR_INVALID_COMPRESSED_DATA' // 1007
  | 'ERR_INVALID_UTF8' // 1007
  | 'ERR_MESSAGE_TOO_BIG' // 1009, a PayloadTooBigError
  | 'ERR_UNEXPECTED_EOF' // 1006, nothing sent
  | 'ERR_INTERNAL'; // 1011

/** The codes of {@link HandshakeError}: which check of the opening handshake failed. */
export type HandshakeErrorCode =
  | 'ERR_HANDSHAKE_METHOD'
  | 'ERR_HANDSHAKE_UPGRADE'
  | 'ERR_HANDSHAKE_CONNECTION'
  | 'ERR_HANDSHAKE_VERSION'
  | 'ERR_HANDSHAKE_KEY'
  | 'ERR_HANDSHAKE_HOST'
  | 'ERR_HANDSHAKE_HEADER'
  | 'ERR_HANDSHAKE_STATUS'
  | 'ERR_HANDSHAKE_ACCEPT'
  | 'ERR_HANDSHAKE_SUBPROTOCOL'
  | 'ERR_HANDSHAKE_EXTENSION';

/** Every error code of the classes @gale/frame defines (server and client re-export them). */
export type ErrorCode =
  | ProtocolErrorCode
  | HandshakeErrorCode
  | 'ERR_INVALID_STATE'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_WEBSOCKET_CLOSED';

/**
 * The root of every error a Gale package raises: `error instanceof WebSocketError` holds for all
 * of them, and `code` says which failure it is. Catch a subclass to handle one kind.
 *
 * `Code` is generic because the family spans layers: @gale/server and @gale/client extend this
 * class with codes of their own (`ERR_HTTP`, `ERR_CONNECTION`, …) that the codec below them must
 * not know. Each class fixes `Code` to its own literals, so `code` is precise once the class is
 * known; the default, `string`, lets a bare `WebSocketError` annotation accept an error of any
 * package (a default of {@link ErrorCode} would reject the server's and client's own errors).
 * Each package exports the union of the codes it raises.
 */
export class WebSocketError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WebSocketError';
    this.code = code;
  }
}

/**
 * The peer broke RFC 6455 or RFC 7692. The protocol fails the connection with `closeCode`
 * (§7.1.7); the I/O layer reads the error from `Protocol.error`.
 */
export class ProtocolError extends WebSocketError<ProtocolErrorCode> {
  readonly closeCode: number;

  constructor(
    code: ProtocolErrorCode,
    message: string,
    closeCode: number = CloseCode.PROTOCOL_ERROR,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.name = 'ProtocolError';
    this.closeCode = closeCode;
  }
}

/** A message or frame exceeded the configured maximum size (closed with 1009). */
export class PayloadTooBigError extends ProtocolError {
  declare readonly code: 'ERR_MESSAGE_TOO_BIG';

  constructor(message: string, options?: ErrorOptions) {
    super('ERR_MESSAGE_TOO_BIG', message, CloseCode.MESSAGE_TOO_BIG, options);
    this.name = 'PayloadTooBigError';
  }
}

/**
 * The caller asked for something the current state does not allow: sending while not OPEN,
 * out-of-order fragments, a response written after it finished, …
 */
export class InvalidStateError extends WebSocketError<'ERR_INVALID_STATE'> {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_STATE', message, options);
    this.name = 'InvalidStateError';
  }
}

/**
 * The caller passed an argument that cannot be honoured: a close reason over 123 bytes, a ping
 * over 125 bytes, a malformed URL or header, …
 */
export class InvalidArgumentError extends WebSocketError<'ERR_INVALID_ARGUMENT'> {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_ARGUMENT', message, options);
    this.name = 'InvalidArgumentError';
  }
}

/**
 * The opening handshake failed. On the server, answer with `status` and `headers` (for example
 * 426 with `Sec-WebSocket-Version: 13`); on the client, `status` is what the server answered
 * (`ERR_HANDSHAKE_STATUS` for anything but 101; 101 when the answer broke RFC 6455 §4.1).
 */
export class HandshakeError extends WebSocketError<HandshakeErrorCode> {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: HandshakeErrorCode,
    message: string,
    status: number,
    headers: Readonly<Record<string, string>> = {},
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.name = 'HandshakeError';
    this.status = status;
    this.headers = headers;
  }
}

/**
 * A write or ping once the connection is closing or closed (Tornado's `WebSocketClosedError`),
 * or a write whose bytes never left. Raised by the I/O layers (server and client), which know the
 * state; the close code and reason are on the connection (`closeCode`, `closeReason`).
 */
export class WebSocketClosedError extends WebSocketError<'ERR_WEBSOCKET_CLOSED'> {
  constructor(message = 'the WebSocket is closed', options?: ErrorOptions) {
    super('ERR_WEBSOCKET_CLOSED', message, options);
    this.name = 'WebSocketClosedError';
  }
}
