import type { Application } from './application.js';
import { InvalidArgumentError, InvalidSettingError } from './errors.js';
import type { Request } from './http/request.js';
import { decodeSignedValue } from './http/secure-cookie.js';
import type { ResolvedSettings } from './settings.js';

/** Options given with a route (`[pattern, Handler, options]`), handed to every instance. */
export type RouteOptions = Readonly<Record<string, unknown>>;

/**
 * What `RequestHandler` and `WebSocketHandler` share: the application, the request, the route's
 * options, response headers set before the response starts, and cookies.
 */
export class Handler {
  readonly application: Application;
  readonly request: Request;
  readonly options: RouteOptions;
  #headers: Map<string, string[]> | undefined;

  constructor(application: Application, request: Request, options: RouteOptions = {}) {
    this.application = application;
    this.request = request;
    this.options = options;
  }

  /** The application's settings, with defaults filled in. */
  get settings(): ResolvedSettings {
    return this.application.settings;
  }

  /**
   * Runs before the HTTP method or the WebSocket upgrade; may be async. Throw an `HTTPError` to
   * answer with its status instead (a WebSocket route then does not upgrade).
   */
  prepare(): void | Promise<void> {}

  /**
   * Sets a response header, replacing any value it had. On a WebSocket route, it goes on the 101.
   * Throws `InvalidArgumentError` for a name or value with CR, LF or NUL (or a name with `:`).
   */
  setHeader(name: string, value: string | number): void {
    assertHeaderSafe(name, String(value));
    this.#headers ??= new Map();
    this.#headers.set(name.toLowerCase(), [String(value)]);
  }

  /** Adds a value to a response header that may repeat (`Set-Cookie`); checked as `setHeader`. */
  addHeader(name: string, value: string): void {
    assertHeaderSafe(name, value);
    const key = name.toLowerCase();
    this.#headers ??= new Map();
    const headers = this.#headers;
    const values = headers.get(key);
    if (values) values.push(value);
    else headers.set(key, [value]);
  }

  /** Removes a response header set earlier. */
  clearHeader(name: string): void {
    this.#headers?.delete(name.toLowerCase());
  }

  /** The response headers set so far (lower-case names). */
  get responseHeaders(): ReadonlyMap<string, readonly string[]> {
    return this.#headers ?? EMPTY_HEADERS;
  }

  /** The value of a plain cookie, or undefined. */
  getCookie(name: string): string | undefined {
    return this.request.cookies[name];
  }

  /**
   * The value of a cookie signed with `setSecureCookie`, or undefined when it is missing, forged,
   * or older than `maxAgeDays` (31 by default, as Tornado). Needs the `cookieSecret` setting
   * (`InvalidSettingError` without it).
   */
  getSecureCookie(name: string, maxAgeDays = 31): string | undefined {
    const raw = this.request.cookies[name];
    if (raw === undefined) return undefined;
    return decodeSignedValue(this.#secret(), name, raw, maxAgeDays) ?? undefined;
  }

  #secret(): string {
    const secret = this.settings.cookieSecret;
    if (!secret) {
      throw new InvalidSettingError('the cookieSecret setting is required for secure cookies');
    }
    return secret;
  }
}

const EMPTY_HEADERS: ReadonlyMap<string, readonly string[]> = new Map();

// Response splitting: a header name or value with CR, LF or NUL would inject a header or body.
function assertHeaderSafe(name: string, value: string): void {
  if (/[\r\n\0:]/.test(name) || /[\r\n\0]/.test(value)) {
    throw new InvalidArgumentError(`invalid characters in header ${JSON.stringify(name)}`);
  }
}
