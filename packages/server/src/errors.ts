/** Every error code raised by @gale/server. */
export type ErrorCode =
  | 'ERR_HTTP'
  | 'ERR_WEBSOCKET_CLOSED'
  | 'ERR_INVALID_SETTING'
  | 'ERR_INVALID_ARGUMENT';

/** Base class of the errors @gale/server raises; `code` identifies the failure. */
export class GaleError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GaleError';
    this.code = code;
  }
}

/**
 * Throw from `prepare()` or an HTTP method to answer with `status` (Tornado's `HTTPError`).
 * `message` is sent to the client as the JSON error's `message` (keep it free of secrets);
 * `headers` are added to the response (for example `WWW-Authenticate` with a 401).
 */
export class HTTPError extends GaleError {
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

/** `writeMessage` (or `ping`) after the closing handshake started, as Tornado raises it. */
export class WebSocketClosedError extends GaleError {
  constructor(message = 'the WebSocket is closed', options?: ErrorOptions) {
    super('ERR_WEBSOCKET_CLOSED', message, options);
    this.name = 'WebSocketClosedError';
  }
}

/** A setting or route that cannot work (ping timeout above the interval, a bad pattern, …). */
export class InvalidSettingError extends GaleError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_SETTING', message, options);
    this.name = 'InvalidSettingError';
  }
}

/** A call with an argument that cannot be honoured (a ping over 125 bytes, …). */
export class InvalidArgumentError extends GaleError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_ARGUMENT', message, options);
    this.name = 'InvalidArgumentError';
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
