import type { ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import {
  HTTPError,
  InvalidArgumentError,
  InvalidSettingError,
  InvalidStateError,
} from '../errors.js';
import { Handler } from '../handler.js';
import { logAccess } from '../log.js';
import { argumentValues, lastValue } from './arguments.js';
import {
  FORM_TYPE,
  isJsonType,
  mediaType,
  parseFormBody,
  parseJsonBody,
  readBody,
} from './body.js';
import { type CookieOptions, type SecureCookieOptions, serializeCookie } from './cookies.js';
import { createSignedValue } from './secure-cookie.js';
import {
  crossOriginReason,
  decodeXsrfToken,
  encodeXsrfToken,
  newXsrfToken,
  sameXsrfToken,
  XSRF_HEADERS,
  XSRF_NAME,
} from './xsrf.js';

/** What `sendError` puts in the error response besides the status. */
export interface SendErrorOptions {
  /** Sent as the JSON body's `message`; the status's reason phrase by default. */
  readonly message?: string;
  /** Headers added to the error response (`WWW-Authenticate`, `Allow`, …). */
  readonly headers?: Readonly<Record<string, string>>;
}

// Tornado's SUPPORTED_METHODS, in its order (also the order of the Allow header).
const HTTP_METHODS = {
  GET: 'get',
  HEAD: 'head',
  POST: 'post',
  DELETE: 'delete',
  PATCH: 'patch',
  PUT: 'put',
  // Not `options`: Handler already names the route's options that (see httpOptions).
  OPTIONS: 'httpOptions',
} as const;

type MethodName = (typeof HTTP_METHODS)[keyof typeof HTTP_METHODS];

// Methods that must not change state, so the XSRF checks leave them alone (as Tornado's).
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

/**
 * Tornado's `RequestHandler` for the HTTP routes of an app: subclass it, override the methods the
 * route answers (`get`, `post`, …) and register it with the `Application`.
 *
 * In a method, read the request with `json()`, `form()`, `getArgument()` and the signed cookies
 * (`getSecureCookie`), then answer with `write()`/`finish()`, `redirect()` or by throwing an
 * `HTTPError`. Output is buffered and sent when the method returns (or on `finish()`), so an error
 * thrown after `write()` still becomes a clean error response.
 *
 * @example
 * class CartHandler extends RequestHandler {
 *   override async post(): Promise<void> {
 *     const action = await this.getArgument('action');
 *     if (action !== 'add' && action !== 'remove') throw new HTTPError(400, 'bad action');
 *     this.write({ inventoryCount: update(action) });
 *   }
 * }
 */
export class RequestHandler extends Handler {
  #response: ServerResponse | undefined;
  #status = 200;
  #chunks: Buffer[] = [];
  #finished = false;
  readonly #cookies = new Map<string, string>();
  #body: Promise<Buffer> | undefined;
  #json: Promise<unknown> | undefined;
  #form: Promise<URLSearchParams> | undefined;
  #xsrfToken: string | undefined;

  // --- HTTP methods: override the ones the route answers. ---

  /** Answers GET; receives the route's groups (URL-decoded). Not overridden: 405. */
  get(..._pathArgs: string[]): void | Promise<void> {
    throw this.#methodNotAllowed();
  }

  /**
   * Answers HEAD. Not overridden: 405, as Tornado (HEAD is not served by `get`). node:http sends
   * no body for HEAD, so an override may simply call `this.get(...)`.
   */
  head(..._pathArgs: string[]): void | Promise<void> {
    throw this.#methodNotAllowed();
  }

  /** Answers POST; receives the route's groups (URL-decoded). Not overridden: 405. */
  post(..._pathArgs: string[]): void | Promise<void> {
    throw this.#methodNotAllowed();
  }

  /** Answers PUT; receives the route's groups (URL-decoded). Not overridden: 405. */
  put(..._pathArgs: string[]): void | Promise<void> {
    throw this.#methodNotAllowed();
  }

  /** Answers PATCH; receives the route's groups (URL-decoded). Not overridden: 405. */
  patch(..._pathArgs: string[]): void | Promise<void> {
    throw this.#methodNotAllowed();
  }

  /** Answers DELETE; receives the route's groups (URL-decoded). Not overridden: 405. */
  delete(..._pathArgs: string[]): void | Promise<void> {
    throw this.#methodNotAllowed();
  }

  /**
   * Answers OPTIONS (Tornado's `options()`; the name `options` is taken by the route's options).
   * Receives the route's groups (URL-decoded). Not overridden: 405.
   */
  httpOptions(..._pathArgs: string[]): void | Promise<void> {
    throw this.#methodNotAllowed();
  }

  /**
   * Runs the request: `prepare()`, then the HTTP method (unless `prepare` finished the response),
   * then `finish()` if the handler did not. Called by the `Application` for a matched route; call
   * it yourself only when routing requests by other means. Never rejects: an `HTTPError` becomes
   * `sendError(status)`, any other exception is logged with its stack and answered 500 without
   * details. Writes one access-log line when the `accessLog` setting is on.
   */
  async execute(response: ServerResponse, pathArgs: readonly string[] = []): Promise<void> {
    const startedAt = process.hrtime.bigint();
    this.#response = response;
    try {
      await this.#run(pathArgs);
    } catch (error) {
      this.#handleException(error);
    }
    if (this.settings.accessLog) {
      try {
        const { method, path, remoteAddress } = this.request;
        logAccess(this.settings.logger, this.#status, method, path, remoteAddress, startedAt);
      } catch {
        // A logger that throws must not take the request (or the server) down with it.
      }
    }
  }

  // --- Request body ---

  /**
   * The request body, read once (later calls share the result). Rejects with `HTTPError` 413 as
   * soon as it exceeds the `maxBodySize` setting (before reading anything when `Content-Length`
   * says so); the rest of the body is then discarded, not buffered, so the connection stays
   * usable. Rejects with 400 if the client goes away mid-body.
   */
  body(): Promise<Buffer> {
    this.#body ??= readBody(this.request.raw, this.settings.maxBodySize);
    return this.#body;
  }

  /**
   * The body parsed as JSON (`T` is not checked: validate what you use). Rejects with
   * `HTTPError` 415 unless the content type is `application/json` (or `…+json`), and 400 for a
   * body that is not UTF-8 JSON; see `body()` for 413.
   */
  json<T = unknown>(): Promise<T> {
    this.#json ??= this.body().then((body) =>
      parseJsonBody(this.request.headers['content-type'], body),
    );
    return this.#json as Promise<T>;
  }

  /**
   * The body parsed as an HTML form. Rejects with `HTTPError` 415 unless the content type is
   * `application/x-www-form-urlencoded` (multipart bodies are not parsed); see `body()` for 413.
   */
  form(): Promise<URLSearchParams> {
    this.#form ??= this.body().then((body) =>
      parseFormBody(this.request.headers['content-type'], body),
    );
    return this.#form;
  }

  /**
   * The last value of argument `name`, looked for in the body first, then in the query string
   * (Tornado's `get_argument`). Missing and no `defaultValue`: rejects with `HTTPError` 400
   * `Missing argument <name>` (Tornado's `MissingArgumentError`). Values are not stripped.
   * For an optional argument pass a default, or use `getArguments`.
   */
  async getArgument(name: string, defaultValue?: string): Promise<string> {
    return lastValue(name, await this.getArguments(name), defaultValue);
  }

  /**
   * Every value of argument `name`: the query string's, then the body's (Tornado's
   * `get_arguments`); empty when there are none. See `getBodyArguments` for bodies.
   */
  async getArguments(name: string): Promise<string[]> {
    return [...this.getQueryArguments(name), ...(await this.getBodyArguments(name))];
  }

  /** The last value of `name` in the body; missing and no default: `HTTPError` 400. */
  async getBodyArgument(name: string, defaultValue?: string): Promise<string> {
    return lastValue(name, await this.getBodyArguments(name), defaultValue);
  }

  /**
   * Every value of `name` in the body: a form field (repeated fields give several), or a JSON
   * object's property (a string, number or boolean, or an array of those; `null` counts as
   * absent, anything else is `HTTPError` 400). Other content types, a missing one, or a JSON body
   * that is not an object have no body arguments. Body errors are those of `json()` and `form()`.
   */
  async getBodyArguments(name: string): Promise<string[]> {
    const type = mediaType(this.request.headers['content-type']);
    if (type === FORM_TYPE) return (await this.form()).getAll(name);
    if (!isJsonType(type)) return [];
    const data = await this.json();
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return [];
    if (!Object.hasOwn(data, name)) return [];
    return argumentValues(name, (data as Record<string, unknown>)[name]);
  }

  /** The last value of `name` in the query string; missing and no default: `HTTPError` 400. */
  getQueryArgument(name: string, defaultValue?: string): string {
    return lastValue(name, this.getQueryArguments(name), defaultValue);
  }

  /** Every value of `name` in the query string. */
  getQueryArguments(name: string): string[] {
    return this.request.query.getAll(name);
  }

  // --- Response ---

  /** The response status so far (200 unless set). */
  get status(): number {
    return this.#status;
  }

  /** Whether the response has been sent (`finish`, `redirect` or `sendError` was called). */
  get isFinished(): boolean {
    return this.#finished;
  }

  /**
   * Sets the response status, sent by `finish()`. Throws `InvalidArgumentError` unless it is an
   * integer from 200 to 599. For errors, throwing an `HTTPError` is usually simpler.
   */
  setStatus(code: number): void {
    if (!Number.isInteger(code) || code < 200 || code > 599) {
      throw new InvalidArgumentError(`invalid HTTP status ${code}`);
    }
    this.#status = code;
  }

  /**
   * Adds `chunk` to the buffered response body; `finish()` sends it. A string is sent as UTF-8
   * (`text/plain; charset=utf-8` unless you set a content type), bytes as they are (copied now).
   * An object is sent as JSON with `application/json; charset=utf-8`, as Tornado; like Tornado,
   * arrays are refused (`InvalidArgumentError`): wrap them in an object, which leaves room to add
   * fields later. Throws `InvalidStateError` after `finish()`.
   */
  write(chunk: string | Uint8Array | object): void {
    if (this.#finished) throw new InvalidStateError('write() after the response was finished');
    if (typeof chunk === 'string') {
      this.#chunks.push(Buffer.from(chunk, 'utf8'));
    } else if (chunk instanceof Uint8Array) {
      this.#chunks.push(Buffer.from(chunk));
    } else {
      if (
        typeof chunk !== 'object' ||
        chunk === null ||
        Array.isArray(chunk) ||
        ArrayBuffer.isView(chunk) ||
        chunk instanceof ArrayBuffer
      ) {
        throw new InvalidArgumentError(
          'write() takes a string, a Uint8Array or an object (wrap arrays in an object)',
        );
      }
      const json: unknown = JSON.stringify(chunk);
      if (typeof json !== 'string') throw new InvalidArgumentError('the object has no JSON form');
      // As Tornado's json_encode: "</" cannot close a <script> if the JSON ends up in one.
      this.#chunks.push(Buffer.from(json.replaceAll('</', '<\\/'), 'utf8'));
      this.setHeader('content-type', JSON_TYPE);
    }
  }

  /**
   * Writes `chunk` if given, then sends the response: status, the headers set so far, cookies,
   * `Content-Length`, and the buffered body. Called for you when the method returns; call it
   * yourself to answer early (from `prepare`, say). Nothing can be written afterwards; a second
   * call throws `InvalidStateError`.
   */
  finish(chunk?: string | Uint8Array | object): void {
    if (this.#finished) throw new InvalidStateError('finish() called twice');
    const response = this.#requireResponse();
    if (chunk !== undefined) this.write(chunk);
    const status = this.#status;
    const body = Buffer.concat(this.#chunks);
    const hasBody = status !== 204 && status !== 304;
    if (!hasBody && body.length > 0) {
      throw new InvalidArgumentError(`a ${status} response cannot have a body`);
    }
    const headers: Record<string, string | string[] | number> = {};
    for (const [name, values] of this.responseHeaders) {
      headers[name] = values.length === 1 ? (values[0] ?? '') : [...values];
    }
    if (this.#cookies.size > 0) {
      headers['set-cookie'] = [
        ...(this.responseHeaders.get('set-cookie') ?? []),
        ...this.#cookies.values(),
      ];
    }
    if (body.length > 0 && !this.responseHeaders.has('content-type')) {
      headers['content-type'] = TEXT_TYPE;
    }
    if (hasBody && !this.responseHeaders.has('content-length'))
      headers['content-length'] = body.length;
    // writeHead validates every header before it sends anything, so a throw leaves the response
    // unstarted and sendError can still answer.
    if (!response.destroyed) response.writeHead(status, headers);
    this.#finished = true;
    this.#chunks = [];
    // node:http drops the body of a HEAD response by itself.
    if (!response.destroyed) response.end(body);
  }

  /**
   * Answers with a redirect to `url` (302 by default; 301, 303, 307 and 308 are the usual others)
   * and finishes the response. Throws `InvalidArgumentError` for a status outside 300–399 or a
   * URL with CR, LF or NUL (header injection); other characters outside printable ASCII are
   * percent-encoded. Redirecting to a URL taken from the request is an open redirect: check it.
   */
  redirect(url: string, status = 302): void {
    if (this.#finished) {
      throw new InvalidStateError('redirect() after the response was finished');
    }
    if (!Number.isInteger(status) || status < 300 || status > 399) {
      throw new InvalidArgumentError(`invalid redirect status ${status}`);
    }
    if (/[\r\n\0]/.test(url)) throw new InvalidArgumentError('redirect URL contains CR, LF or NUL');
    this.setStatus(status);
    this.setHeader(
      'location',
      url.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c)),
    );
    this.finish();
  }

  /**
   * Sends an error response: `status` (an integer from 400 to 599; anything else becomes 500) and
   * the JSON body `{"status": N, "message": "…"}`. As Tornado's `send_error`, it discards the
   * buffered body and the headers set so far, except cookies, then adds `options.headers`. After
   * the response has started it can only end it. You rarely call this: throw an `HTTPError`.
   */
  sendError(status: number, options: SendErrorOptions = {}): void {
    const response = this.#requireResponse();
    if (this.#finished || response.headersSent) {
      this.#finished = true;
      if (!response.writableEnded) response.end();
      return;
    }
    const code = Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500;
    const message = options.message ?? new HTTPError(code).message;
    for (const name of [...this.responseHeaders.keys()]) {
      if (name !== 'set-cookie') this.clearHeader(name);
    }
    this.#chunks = [];
    for (const [name, value] of Object.entries(options.headers ?? {})) this.setHeader(name, value);
    this.#status = code;
    this.finish({ status: code, message });
  }

  // --- Cookies ---

  /**
   * Sets a cookie on the response (sent by `finish`, including on error responses). The value is
   * URL-encoded, as `getCookie` decodes it. Setting the same name, path and domain again in this
   * response replaces the earlier one. Throws `InvalidArgumentError` for a name or attribute the
   * cookie grammar does not allow.
   */
  setCookie(name: string, value: string, options: CookieOptions = {}): void {
    this.#addCookie(serializeCookie(name, value, this.#withSecure(options)));
  }

  /**
   * Tells the browser to delete cookie `name`. Pass the `path` and `domain` it was set with (the
   * browser keys cookies by all three).
   */
  clearCookie(
    name: string,
    options: Pick<CookieOptions, 'domain' | 'path' | 'secure' | 'sameSite' | 'partitioned'> = {},
  ): void {
    this.#addCookie(
      serializeCookie(name, '', { ...this.#withSecure(options), expires: new Date(0), maxAge: 0 }),
    );
  }

  /**
   * Sets a cookie signed with the `cookieSecret` setting (Tornado's `set_signed_cookie`, same
   * format, so Tornado and Gale can read each other's). Read it back with `getSecureCookie`.
   * The value is signed, not encrypted: the user can read it but not change it. Expires after
   * 30 days unless `expiresDays` says otherwise. Throws `InvalidSettingError` without a secret.
   */
  setSecureCookie(name: string, value: string, options: SecureCookieOptions = {}): void {
    const secret = this.settings.cookieSecret;
    if (!secret) {
      throw new InvalidSettingError('the cookieSecret setting is required for secure cookies');
    }
    const { expiresDays = 30, ...rest } = this.#withSecure(options);
    const signed = createSignedValue(secret, name, value);
    // Sent as is, not URL-encoded: it is all cookie-safe characters, and Tornado reads it raw.
    this.#addCookie(
      serializeCookie(
        name,
        signed,
        expiresDays === null ? rest : { ...rest, expiresDays },
        (text) => text,
      ),
    );
  }

  // --- XSRF (cross-site request forgery) protection, Tornado's ---

  /**
   * The XSRF token to put in this response's page or hand to its script: the `_xsrf` cookie's
   * secret under a fresh mask, so it never repeats in a compressed page. Reading it sets the
   * `_xsrf` cookie (see the `xsrfCookieOptions` setting) when the request had no valid one. With
   * the `xsrfCookies` setting, a POST, PUT, PATCH or DELETE must send it back (see
   * `checkXsrfCookie`); a script can also read the cookie itself and send that.
   */
  get xsrfToken(): string {
    if (this.#xsrfToken === undefined) {
      let cookie = decodeXsrfToken(this.getCookie(XSRF_NAME));
      if (cookie === null) {
        cookie = newXsrfToken(Date.now());
        // Sent as is: the token's characters are all cookie-safe, and a script reads it raw.
        this.#addCookie(
          serializeCookie(
            XSRF_NAME,
            encodeXsrfToken(cookie),
            this.#withSecure({ httpOnly: false, ...this.settings.xsrfCookieOptions }),
            (text) => text,
          ),
        );
      }
      this.#xsrfToken = encodeXsrfToken(cookie);
    }
    return this.#xsrfToken;
  }

  /**
   * A hidden form field holding `xsrfToken` (Tornado's `xsrf_form_html`), for the forms of pages
   * this handler renders: `<input type="hidden" name="_xsrf" value="…">`.
   */
  xsrfFormHtml(): string {
    return `<input type="hidden" name="${XSRF_NAME}" value="${escapeAttribute(this.xsrfToken)}">`;
  }

  /**
   * With the `xsrfCookies` setting, runs before `prepare()` for every POST, PUT, PATCH and DELETE
   * (after `checkXsrfOrigin`): the request must send the `_xsrf` cookie's token back in an
   * `X-XSRFToken` or `X-CSRFToken` header, or an `_xsrf` form field or JSON property. Throws
   * `HTTPError` 403 saying what is missing or wrong; the handler then never runs and sets no
   * cookie. Override it to exempt a handler (an API authenticated by a header, say) or to check
   * otherwise.
   */
  async checkXsrfCookie(): Promise<void> {
    const headers = this.request.headers;
    let sent: string | undefined;
    for (const name of XSRF_HEADERS) {
      const value = headers[name];
      if (typeof value === 'string') {
        sent = value;
        break;
      }
    }
    sent ??= (await this.getBodyArguments(XSRF_NAME)).at(-1);
    const method = this.request.method.toUpperCase();
    if (sent === undefined) {
      throw new HTTPError(
        403,
        `'${XSRF_NAME}' argument missing from ${method} (send the ${XSRF_NAME} cookie's token in an X-XSRFToken header or an ${XSRF_NAME} field)`,
      );
    }
    const token = decodeXsrfToken(sent);
    if (token === null) throw new HTTPError(403, `'${XSRF_NAME}' argument has invalid format`);
    const cookie = decodeXsrfToken(this.getCookie(XSRF_NAME));
    if (cookie === null) throw new HTTPError(403, `'${XSRF_NAME}' cookie missing or malformed`);
    if (!sameXsrfToken(token, cookie)) {
      throw new HTTPError(403, `XSRF cookie does not match ${method} argument`);
    }
  }

  /**
   * With the `xsrfCookies` setting, runs before `checkXsrfCookie` for every POST, PUT, PATCH and
   * DELETE: refuses (`HTTPError` 403) a request that says it comes from another origin, by
   * `Sec-Fetch-Site` (`same-site` or `cross-site`) or, without it, by an `Origin` other than the
   * request's host; origins in the `allowedOrigins` setting pass. This also stops a form on
   * another port of the same host, which `SameSite` cookies let through. Override to change it.
   */
  checkXsrfOrigin(): void {
    const reason = crossOriginReason(this.request.headers, this.settings.allowedOrigins);
    if (reason !== null) {
      throw new HTTPError(403, `Cross-origin ${this.request.method} refused: ${reason}`);
    }
  }

  // --- Internals ---

  async #run(pathArgs: readonly string[]): Promise<void> {
    const method = this.request.method.toUpperCase();
    if (!Object.hasOwn(HTTP_METHODS, method)) throw this.#methodNotAllowed();
    const name: MethodName = HTTP_METHODS[method as keyof typeof HTTP_METHODS];
    if (this.settings.xsrfCookies && !SAFE_METHODS.has(method)) {
      this.checkXsrfOrigin();
      await this.checkXsrfCookie();
    }
    await this.prepare();
    if (this.#finished) return;
    await this[name](...pathArgs);
    if (!this.#finished) this.finish();
  }

  #handleException(error: unknown): void {
    try {
      if (error instanceof HTTPError) {
        this.sendError(error.status, { message: error.message, headers: error.headers });
        return;
      }
      const { method, path, remoteAddress } = this.request;
      // inspect() gives the stack, the cause chain and extra fields such as `code`.
      this.settings.logger.error(
        `Uncaught exception ${method} ${path} (${remoteAddress})\n${inspect(error)}`,
      );
      this.sendError(500);
    } catch (secondary) {
      // sendError failed too (an invalid header in an HTTPError, a logger or an override that
      // throws): answer a bare 500, or cut the connection if the response already started.
      try {
        this.settings.logger.error(`Uncaught exception sending an error\n${inspect(secondary)}`);
      } catch {
        // Nothing left to tell.
      }
      this.#abort();
    }
  }

  #abort(): void {
    this.#finished = true;
    this.#status = 500;
    const response = this.#response;
    if (!response || response.writableEnded) return;
    if (response.headersSent) {
      response.destroy();
      return;
    }
    try {
      const body = JSON.stringify({ status: 500, message: new HTTPError(500).message });
      response.writeHead(500, {
        'content-type': JSON_TYPE,
        'content-length': Buffer.byteLength(body),
      });
      response.end(body);
    } catch {
      response.destroy();
    }
  }

  #methodNotAllowed(): HTTPError {
    const allowed = Object.entries(HTTP_METHODS)
      .filter(([, name]) => this[name] !== RequestHandler.prototype[name])
      .map(([method]) => method);
    return new HTTPError(405, undefined, { headers: { Allow: allowed.join(', ') } });
  }

  #requireResponse(): ServerResponse {
    if (this.#response === undefined) {
      throw new InvalidStateError('the response is not available before execute() runs');
    }
    return this.#response;
  }

  // The cookieSecure setting's answer, unless the caller chose.
  #withSecure<T extends { readonly secure?: boolean }>(options: T): T {
    if (options.secure !== undefined) return options;
    const setting = this.settings.cookieSecure;
    return { ...options, secure: setting === 'auto' ? this.request.protocol === 'https' : setting };
  }

  #addCookie({ key, header }: { readonly key: string; readonly header: string }): void {
    this.#cookies.set(key, header);
  }
}

function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
