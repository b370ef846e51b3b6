import type { DeflateOptions } from '@gale/frame';
import { InvalidSettingError } from './errors.js';
import type { CookieOptions } from './http/cookies.js';
import type { Logger } from './log.js';

/** Application settings, Tornado's names in camelCase. Every field is optional; see DEFAULTS. */
export interface Settings {
  /** Secret for `setSecureCookie`/`getSecureCookie`. Required to use signed cookies. */
  readonly cookieSecret?: string;
  /** Seconds between server pings; 0 disables them (default). */
  readonly websocketPingInterval?: number;
  /** Seconds to wait for a pong, at most the interval (default: the interval). */
  readonly websocketPingTimeout?: number;
  /** Largest message accepted, in bytes; larger ones close the connection with 1009. 10 MiB. */
  readonly websocketMaxMessageSize?: number;
  /** Seconds to wait for the peer's Close frame before the socket is destroyed. 5. */
  readonly websocketCloseTimeout?: number;
  /**
   * Bytes a connection may have queued unsent before its peer is watched as a possible slow
   * consumer. 8 MiB. A peer that takes nothing from the queue for `websocketDrainTimeout` is
   * dropped; one whose queue grows past this plus `websocketMaxMessageSize` is closed with 1008
   * (or dropped, if it has read nothing since the watch began). Any message up to
   * `websocketMaxMessageSize` still goes out to a peer that reads.
   */
  readonly websocketMaxBufferedAmount?: number;
  /** Seconds a watched peer (see `websocketMaxBufferedAmount`) may read nothing. 10. */
  readonly websocketDrainTimeout?: number;
  /** Seconds a client may take to complete the HTTP upgrade before it is dropped. 10. */
  readonly handshakeTimeout?: number;
  /** Largest request head accepted, in bytes (node:http `maxHeaderSize`); 431 beyond. 16 KiB. */
  readonly maxHeaderSize?: number;
  /** Largest HTTP request body accepted by `RequestHandler`, in bytes; 413 beyond. 1 MiB. */
  readonly maxBodySize?: number;
  /**
   * Origins (`https://app.example`) trusted besides the request's own host: by the default
   * `checkOrigin` of WebSocket routes, and by `checkXsrfOrigin` for state-changing requests.
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * Tornado's `xsrf_cookies`: POST, PUT, PATCH and DELETE requests to a `RequestHandler` must
   * carry the `_xsrf` cookie's token (form or JSON field `_xsrf`, or an `X-XSRFToken` or
   * `X-CSRFToken` header) and must not come from another origin (`Origin`, `Sec-Fetch-Site`);
   * 403 otherwise. Pages get the token from `xsrfToken` or `xsrfFormHtml()`. Default false.
   */
  readonly xsrfCookies?: boolean;
  /**
   * Attributes of the `_xsrf` cookie (Tornado's `xsrf_cookie_kwargs`). Not HttpOnly by default,
   * so that a page's script can read it and send it back in the header.
   */
  readonly xsrfCookieOptions?: CookieOptions;
  /**
   * Tornado's `xheaders`: take the client's address and scheme from `X-Real-Ip`,
   * `X-Forwarded-For` and `X-Forwarded-Proto` (or `X-Scheme`), when the request's peer is one of
   * `trustedProxies`. Default false: the socket's peer is the client.
   */
  readonly xheaders?: boolean;
  /**
   * With `xheaders`, the proxies whose headers are believed: IP addresses and CIDR subnets.
   * Default: loopback (`127.0.0.0/8`, `::1`), a proxy on the same machine.
   */
  readonly trustedProxies?: readonly string[];
  /**
   * The `Secure` attribute of the cookies handlers set, unless a call says otherwise: `'auto'`
   * (default) sets it when the request arrived over https (directly, or through a trusted proxy
   * with `xheaders`); true always; false never.
   */
  readonly cookieSecure?: boolean | 'auto';
  /** Folder of static files served for GET/HEAD requests no route matched (a built front end). */
  readonly staticPath?: string;
  /** Where log lines go. `console` by default; `silentLogger` for none. */
  readonly logger?: Logger;
  /** Log one line per request, as Tornado. Default true. */
  readonly accessLog?: boolean;
  /** Default permessage-deflate options for handlers whose `getCompressionOptions` returns {}. */
  readonly compression?: DeflateOptions;
  /**
   * Speak gale.v1, Gale's resume subprotocol (docs/resume-protocol.md), with clients that offer
   * it: their topic subscriptions resume after a reconnection from the position they had. Plain
   * clients are unaffected either way. Default true; false makes every connection a plain one
   * (`selectSubprotocol` then sees gale.v1 offers as they are).
   */
  readonly resume?: boolean;
}

/** The settings with every default filled in. */
export type ResolvedSettings = Required<
  Omit<Settings, 'cookieSecret' | 'staticPath' | 'xsrfCookieOptions'>
> &
  Pick<Settings, 'cookieSecret' | 'staticPath' | 'xsrfCookieOptions'>;

/** The defaults, as Tornado where Tornado has one. */
export const DEFAULTS: Readonly<
  Omit<ResolvedSettings, 'logger' | 'cookieSecret' | 'staticPath' | 'xsrfCookieOptions'>
> = {
  websocketPingInterval: 0,
  websocketPingTimeout: 0,
  websocketMaxMessageSize: 10 * 1024 * 1024,
  websocketCloseTimeout: 5,
  websocketMaxBufferedAmount: 8 * 1024 * 1024,
  websocketDrainTimeout: 10,
  handshakeTimeout: 10,
  maxHeaderSize: 16 * 1024,
  maxBodySize: 1024 * 1024,
  allowedOrigins: [],
  xsrfCookies: false,
  xheaders: false,
  trustedProxies: ['127.0.0.0/8', '::1'],
  cookieSecure: 'auto',
  accessLog: true,
  compression: {},
  resume: true,
};

/** Fills in defaults and checks the combination. Throws `InvalidSettingError`. */
export function resolveSettings(settings: Settings = {}): ResolvedSettings {
  const resolved: ResolvedSettings = {
    ...DEFAULTS,
    logger: console,
    ...stripUndefined(settings),
  };
  const interval = resolved.websocketPingInterval;
  const timeout = settings.websocketPingTimeout ?? interval;
  if (!(interval >= 0) || !(timeout >= 0)) {
    throw new InvalidSettingError('websocketPingInterval and websocketPingTimeout must be >= 0');
  }
  if (interval > 0 && timeout > interval) {
    // Tornado 6.5: "the ping timeout must be less than or equal to the ping interval".
    throw new InvalidSettingError('websocketPingTimeout must not exceed websocketPingInterval');
  }
  for (const key of [
    'websocketMaxMessageSize',
    'websocketCloseTimeout',
    'websocketMaxBufferedAmount',
    'websocketDrainTimeout',
    'handshakeTimeout',
    'maxHeaderSize',
    'maxBodySize',
  ] as const) {
    if (!(resolved[key] > 0)) throw new InvalidSettingError(`${key} must be positive`);
  }
  const secure: unknown = resolved.cookieSecure;
  if (secure !== true && secure !== false && secure !== 'auto') {
    throw new InvalidSettingError("cookieSecure must be true, false or 'auto'");
  }
  if (typeof resolved.resume !== 'boolean')
    throw new InvalidSettingError('resume must be a boolean');
  return { ...resolved, websocketPingTimeout: timeout };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
