// What both builds export besides their entry points (see index.node.ts, index.browser.ts).
/** Where a message is in its topic's history (gale.v1): see `GapEvent` and `positions()`. */
export type { Position } from '@gale/frame/resume';
export {
  backoffCap,
  backoffDelay,
  DEFAULT_RECONNECT,
  type ReconnectPolicy,
} from './backoff.js';
export { ClientConnection, type WriteOptions } from './connection.js';
export type { ControllerHost } from './controller.js';
export {
  AbortError,
  ClientError,
  type ClientErrorCode,
  ConnectionError,
  ConnectTimeoutError,
  HandshakeError,
  type HandshakeErrorCode,
  InvalidArgumentError,
  InvalidStateError,
  MessageDroppedError,
  PayloadTooBigError,
  ProtocolError,
  type ProtocolErrorCode,
  WebSocketClosedError,
  WebSocketError,
} from './errors.js';
export {
  type ClientConnectionEventMap,
  ConnectionCloseEvent,
  DropEvent,
  GapEvent,
  ReconnectingEvent,
  StateChangeEvent,
} from './events.js';
export type {
  CloseInfo,
  ConnectionState,
  ConnectOptions,
  Message,
  ReconnectOptions,
} from './options.js';
