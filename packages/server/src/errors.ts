import { WebSocketError } from '@gale/frame';

// One error family for every Gale package: the classes @gale/frame defines are re-exported, not
// copied, so `instanceof` gives the same answer whichever package a caller imports them from.
export {
  HandshakeError,
  type HandshakeErrorCode,
  InvalidArgumentError,
  InvalidStateError,
  WebSocketClosedError,
  WebSocketError,
} from '@gale/frame';

/** Every error code @gale/server raises. */
export type ErrorCode =
  | 'ERR_HTTP'
  | 'ERR_INVALID_SETTING'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_INVALID_STATE'
  | 'ERR_WEBSOCKET_CLOSED';

/**
 * @deprecated Use `WebSocketError`, which this now is: the root of every Gale error, including
 * the server's. Kept so that `error instanceof GaleError` still holds for everything it did.
 */
export const GaleError: typeof WebSocketError = WebSocketError;
/** @deprecated Use `WebSocketError`. */
export type GaleError<Code extends string = string> = WebSocketError<Code>;

/**
 * Throw from `prepare()` or an HTTP method to answer with `status` (Tornado's `HTTPError`).
 * `message` is sent to the client as the JSON error's `message` (keep it free of secrets);
 * `headers` are added to the response (for example `WWW-Authenticate` with a 401).
 */
export class HTTPError extends WebSocketError<'ERR_HTTP'> {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    message?: string,
    options?: ErrorOptions & { headers?: Readonly<Record<string, string>> },
  ) {
    super('ERR_HTTP', message ?? defaultMessage(status), options);
    this.name = 'HTTPError';
    this.status = status;
    this.headers = options?.headers ?? {};
  }
}

/**
 * A setting, route or plugin option that cannot work (ping timeout above the interval, a bad
 * pattern, secure cookies without `cookieSecret`, …).
 */
export class InvalidSettingError extends WebSocketError<'ERR_INVALID_SETTING'> {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_SETTING', message, options);
    this.name = 'InvalidSettingError';
  }
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
};

function defaultMessage(status: number): string {
  return REASONS[status] ?? `HTTP ${status}`;
}
