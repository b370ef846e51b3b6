export { type Clock, systemClock } from '@gale/io/clock';
export {
  Application,
  type ApplicationCloseOptions,
  type ApplicationOptions,
  type HandlerClass,
  type Route,
} from './application.js';
export {
  type ErrorCode,
  GaleError,
  HandshakeError,
  type HandshakeErrorCode,
  HTTPError,
  InvalidArgumentError,
  InvalidSettingError,
  InvalidStateError,
  WebSocketClosedError,
  WebSocketError,
} from './errors.js';
export { Handler, type RouteOptions } from './handler.js';
export type { CookieOptions, SecureCookieOptions } from './http/cookies.js';
export { Request } from './http/request.js';
export { RequestHandler, type SendErrorOptions } from './http/request-handler.js';
export { createSignedValue, decodeSignedValue } from './http/secure-cookie.js';
export { type Logger, logAccess, silentLogger } from './log.js';
export { DEFAULTS, type ResolvedSettings, resolveSettings, type Settings } from './settings.js';
// The broker SPI (LocalTopics, frameMessage, TopicSubscriber) is @gale/server/broker. MemoryBroker
// is here too: an application constructs it to choose what its topics keep.
export {
  type Broker,
  type HistoryOptions,
  type HistoryPolicy,
  MemoryBroker,
  type MemoryBrokerOptions,
  type Position,
  type PublishOptions,
  type SubscriptionStart,
  type TopicMessage,
} from './topics.js';
export { WebSocketHandler, type WriteOptions } from './websocket-handler.js';
