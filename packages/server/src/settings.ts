import type { DeflateOptions } from '@gale/frame';
import { InvalidSettingError } from './errors.js';
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
  /** Origins accepted by the default `checkOrigin` besides the request's own host. */
  readonly allowedOrigins?: readonly string[];
  /** Folder of static files served for GET/HEAD requests no route matched (a built front end). */
  readonly staticPath?: string;
  /** Where log lines go. `console` by default; `silentLogger` for none. */
  readonly logger?: Logger;
  /** Log one line per request, as Tornado. Default true. */
  readonly accessLog?: boolean;
  /** Default permessage-deflate options for handlers whose `getCompressionOptions` returns {}. */
  readonly compression?: DeflateOptions;
}

/** The settings with every default filled in. */
export type ResolvedSettings = Required<Omit<Settings, 'cookieSecret' | 'staticPath'>> &
  Pick<Settings, 'cookieSecret' | 'staticPath'>;

/** The defaults, as Tornado where Tornado has one. */
export const DEFAULTS: Readonly<Omit<ResolvedSettings, 'logger' | 'cookieSecret' | 'staticPath'>> =
  {
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
    accessLog: true,
    compression: {},
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
  return { ...resolved, websocketPingTimeout: timeout };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
