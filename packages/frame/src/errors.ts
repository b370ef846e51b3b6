import { CloseCode } from './close-code.js';

/** Every error code raised by @gale/frame. */
export type ErrorCode =
  // Protocol violations by the peer (closed with 1002 unless noted).
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
  | 'ERR_INVALID_COMPRESSED_DATA'
  | 'ERR_INVALID_UTF8' // 1007
  | 'ERR_MESSAGE_TOO_BIG' // 1009
  | 'ERR_UNEXPECTED_EOF' // 1006, nothing sent
  | 'ERR_INTERNAL' // 1011
  // Caller mistakes, thrown at once.
  | 'ERR_INVALID_STATE'
  | 'ERR_INVALID_ARGUMENT'
  // Opening handshake.
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
  | 'ERR_HANDSHAKE_EXTENSION'
  // The connection is closed.
  | 'ERR_CONNECTION_CLOSED';

/** Base class of every error raised by @gale/frame; `code` identifies the failure. */
export class WebSocketError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WebSocketError';
    this.code = code;
  }
}

/**
 * The peer broke RFC 6455 or RFC 7692. The protocol fails the connection with `closeCode`
 * (§7.1.7); the I/O layer reads the error from `Protocol.handshakeError`/`Protocol.error`.
 */
export class ProtocolError extends WebSocketError {
  readonly closeCode: number;

  constructor(
    code: ErrorCode,
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
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_MESSAGE_TOO_BIG', message, CloseCode.MESSAGE_TOO_BIG, options);
    this.name = 'PayloadTooBigError';
  }
}

/** The caller asked for something the current state does not allow (sending while not OPEN, …). */
export class InvalidStateError extends WebSocketError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_STATE', message, options);
    this.name = 'InvalidStateError';
  }
}

/** The caller passed an argument the protocol cannot send (a reason over 123 bytes, …). */
export class InvalidArgumentError extends WebSocketError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_ARGUMENT', message, options);
    this.name = 'InvalidArgumentError';
  }
}

/**
 * The opening handshake failed. On the server, answer with `status` and `headers` (for example
 * 426 with `Sec-WebSocket-Version: 13`); on the client, `status` is what the server answered.
 */
export class HandshakeError extends WebSocketError {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
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

/** The connection is closed; `closeCode` and `reason` are what the closing handshake carried. */
export class ConnectionClosedError extends WebSocketError {
  readonly closeCode: number;
  readonly reason: string;

  constructor(closeCode: number, reason: string, options?: ErrorOptions) {
    super(
      'ERR_CONNECTION_CLOSED',
      `connection closed with ${closeCode}${reason ? ` ${reason}` : ''}`,
      options,
    );
    this.name = 'ConnectionClosedError';
    this.closeCode = closeCode;
    this.reason = reason;
  }
}
