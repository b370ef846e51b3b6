/** Every code a @gale/client error carries in `error.code`. */
export type ClientErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_INVALID_STATE'
  | 'ERR_HANDSHAKE'
  | 'ERR_CONNECTION'
  | 'ERR_CONNECT_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_CLOSED'
  | 'ERR_MESSAGE_DROPPED';

/** The base class of every error @gale/client raises; `code` says which one it is. */
export class ClientError extends Error {
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A caller mistake: a bad URL, an option the build cannot honour, a ping over 125 bytes. */
export class InvalidArgumentError extends ClientError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_ARGUMENT', message, options);
  }
}

/** A call the connection cannot take in its current state (`readMessage()` with `onMessage`). */
export class InvalidStateError extends ClientError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_STATE', message, options);
  }
}

/**
 * The server answered the opening handshake with something other than a valid 101. `status` is
 * the HTTP status (404, 403, 401, …; 200 for "not a WebSocket endpoint"; 101 when the answer broke
 * RFC 6455 §4.1: a bad accept key, a subprotocol or extension that was not offered, …).
 */
export class HandshakeError extends ClientError {
  readonly status: number;

  constructor(message: string, status: number, options?: ErrorOptions) {
    super('ERR_HANDSHAKE', message, options);
    this.status = status;
  }
}

/**
 * The connection could not be established or was lost before the handshake finished: refused,
 * unreachable, a DNS or TLS failure (`cause` holds the system error). In browsers, which hide the
 * reason of a failed handshake, every failure to connect is this error.
 */
export class ConnectionError extends ClientError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_CONNECTION', message, options);
  }
}

/** The handshake did not complete within `connectTimeout`. */
export class ConnectTimeoutError extends ClientError {
  constructor(timeout: number) {
    super('ERR_CONNECT_TIMEOUT', `Timed out connecting after ${timeout} ms`);
  }
}

/** `signal` aborted the connection attempt; `cause` is the signal's reason. */
export class AbortError extends ClientError {
  constructor(reason: unknown) {
    super('ERR_ABORTED', 'The connection attempt was aborted', { cause: reason });
  }
}

/**
 * Raised synchronously by `writeMessage()` and `ping()` once the connection is closing or closed
 * (Tornado's `WebSocketClosedError`), and by a write promise whose bytes never left.
 */
export class WebSocketClosedError extends ClientError {
  constructor(message = 'The WebSocket is closed', options?: ErrorOptions) {
    super('ERR_CLOSED', message, options);
  }
}

/**
 * A message written while disconnected was never sent: the send queue was full, reconnection
 * gave up, or the connection was closed first. It rejects that message's write promise and is
 * reported by a `drop` event; `data` is the message as it would have been sent.
 */
export class MessageDroppedError extends ClientError {
  readonly data: string | Uint8Array;

  constructor(message: string, data: string | Uint8Array, options?: ErrorOptions) {
    super('ERR_MESSAGE_DROPPED', message, options);
    this.data = data;
  }
}

/**
 * @internal A rejected promise that never counts as unhandled: write promises a caller ignores
 * must not crash the process, and awaiting one still throws.
 */
export function rejected(error: unknown): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(() => {});
  return promise;
}
