import {
  type HandshakeErrorCode,
  type ProtocolErrorCode,
  WebSocketError,
} from '@gale/frame/errors';

// One error family for every Gale package: the classes @gale/frame defines are re-exported, not
// copied, so `instanceof` gives the same answer whichever package a caller imports them from.
export {
  HandshakeError,
  type HandshakeErrorCode,
  InvalidArgumentError,
  InvalidStateError,
  PayloadTooBigError,
  ProtocolError,
  type ProtocolErrorCode,
  WebSocketClosedError,
  WebSocketError,
} from '@gale/frame/errors';

/**
 * Every code a @gale/client error carries in `error.code`: thrown, rejected, or in a close's
 * `info.error` (a `ProtocolError` when the server broke the protocol, Node only).
 */
export type ClientErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_INVALID_STATE'
  | HandshakeErrorCode
  | ProtocolErrorCode
  | 'ERR_CONNECTION'
  | 'ERR_CONNECT_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_WEBSOCKET_CLOSED'
  | 'ERR_MESSAGE_DROPPED';

/**
 * @deprecated Use `WebSocketError`, which this now is: the root of every Gale error, including
 * the client's. Kept so that `error instanceof ClientError` still holds for everything it did.
 */
export const ClientError: typeof WebSocketError = WebSocketError;
/** @deprecated Use `WebSocketError`. */
export type ClientError<Code extends string = string> = WebSocketError<Code>;

/**
 * The connection could not be established or was lost before the handshake finished: refused,
 * unreachable, a DNS or TLS failure (`cause` holds the system error). In browsers, which hide the
 * reason of a failed handshake, every failure to connect is this error.
 */
export class ConnectionError extends WebSocketError<'ERR_CONNECTION'> {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_CONNECTION', message, options);
    this.name = 'ConnectionError';
  }
}

/** The handshake did not complete within `connectTimeout`. */
export class ConnectTimeoutError extends WebSocketError<'ERR_CONNECT_TIMEOUT'> {
  constructor(timeout: number, options?: ErrorOptions) {
    super('ERR_CONNECT_TIMEOUT', `Timed out connecting after ${timeout} ms`, options);
    this.name = 'ConnectTimeoutError';
  }
}

/** `signal` aborted the connection attempt; `cause` is the signal's reason. */
export class AbortError extends WebSocketError<'ERR_ABORTED'> {
  constructor(reason: unknown) {
    super('ERR_ABORTED', 'The connection attempt was aborted', { cause: reason });
    this.name = 'AbortError';
  }
}

/**
 * A message written while disconnected was never sent: the send queue was full, reconnection
 * gave up, or the connection was closed first. It rejects that message's write promise and is
 * reported by a `drop` event; `data` is the message as it would have been sent.
 */
export class MessageDroppedError extends WebSocketError<'ERR_MESSAGE_DROPPED'> {
  readonly data: string | Uint8Array;

  constructor(message: string, data: string | Uint8Array, options?: ErrorOptions) {
    super('ERR_MESSAGE_DROPPED', message, options);
    this.name = 'MessageDroppedError';
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

/**
 * @internal A user callback (`onMessage`, `onReconnect`) threw or rejected: reported as an
 * uncaught error would be, without breaking the connection's bookkeeping (Tornado logs handler
 * errors the same way).
 */
export function reportCallbackError(error: unknown): void {
  console.error('@gale/client: a callback threw', error);
}
