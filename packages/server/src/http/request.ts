import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { parseCookie } from 'cookie';
import { InvalidStateError } from '../errors.js';
import { NO_PROXIES, type Origin, type ProxyTrust } from './forwarded.js';

/**
 * What a {@link Request} is read from: node:http's `IncomingMessage`, or, for a WebSocket upgrade
 * that `Application.listen()` read itself, the request head Gale parsed (method, target, headers
 * in `IncomingMessage.headers`' shape) and the socket it came on.
 */
export interface UpgradeHead {
  readonly method?: string | undefined;
  /** The request-target: path and query. */
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly socket: Socket;
}

/**
 * The HTTP request behind a handler (for a WebSocket, the upgrade request): what handlers read
 * in `prepare`, `open` and HTTP methods. Cookies and the query string are parsed on first use.
 */
export class Request {
  #raw: IncomingMessage | null;
  readonly method: string;
  /** The path, without the query string. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly #socket: Socket;
  readonly #search: string;
  #query: URLSearchParams | undefined;
  #cookies: Readonly<Record<string, string>> | undefined;
  readonly #proxies: ProxyTrust;
  #origin: Origin | undefined;

  /**
   * `proxies` says whose `X-Forwarded-*` headers to believe (the application's `xheaders` and
   * `trustedProxies` settings); by default nobody's.
   */
  constructor(raw: IncomingMessage | UpgradeHead, proxies: ProxyTrust = NO_PROXIES) {
    this.#proxies = proxies;
    // A request with a body stream: node:http's, or @gale/server/bun's stand-in for it.
    this.#raw = raw instanceof Readable ? (raw as IncomingMessage) : null;
    this.method = raw.method ?? 'GET';
    const url = raw.url ?? '/';
    const q = url.indexOf('?');
    this.path = q === -1 ? url : url.slice(0, q);
    this.#search = q === -1 ? '' : url.slice(q + 1);
    this.headers = raw.headers;
    this.#socket = raw.socket;
  }

  /**
   * The node:http request, for its body stream. A WebSocket upgrade that `Application.listen()`
   * read itself never had one (the handler has everything above), nor is one kept once a
   * WebSocket is open: reading it then throws `InvalidStateError`.
   */
  get raw(): IncomingMessage {
    if (this.#raw === null) {
      throw new InvalidStateError(
        'no raw request: a WebSocket upgrade read by listen() has none, and it is released once a WebSocket is open',
      );
    }
    return this.#raw;
  }

  /** @internal Drops the node:http request so that an open WebSocket does not keep it alive. */
  release(): void {
    this.#raw = null;
  }

  /**
   * The client's IP address: the socket's peer, or, with the `xheaders` setting, what a trusted
   * proxy put in `X-Real-Ip` or `X-Forwarded-For` (see `trustedProxies`).
   */
  get remoteAddress(): string {
    return this.#resolveOrigin().remoteAddress;
  }

  /**
   * `https` when the request came over TLS: to this server, or, with the `xheaders` setting, to
   * a trusted proxy that says so in `X-Forwarded-Proto` (or `X-Scheme`). Else `http`.
   */
  get protocol(): 'http' | 'https' {
    return this.#resolveOrigin().protocol;
  }

  #resolveOrigin(): Origin {
    // Read on demand, once: the peer's address costs a getpeername() system call.
    this.#origin ??= this.#proxies.resolve(
      this.#socket.remoteAddress ?? '',
      'encrypted' in this.#socket && this.#socket.encrypted === true,
      this.headers,
    );
    return this.#origin;
  }

  /** The query string's arguments. */
  get query(): URLSearchParams {
    this.#query ??= new URLSearchParams(this.#search);
    return this.#query;
  }

  /** The request's cookies by name (parsed with the `cookie` package); malformed ones are skipped. */
  get cookies(): Readonly<Record<string, string>> {
    if (this.#cookies === undefined) {
      const header = this.headers.cookie;
      const parsed = header ? parseCookie(header) : {};
      const cookies: Record<string, string> = {};
      for (const [name, value] of Object.entries(parsed))
        if (value !== undefined) cookies[name] = value;
      this.#cookies = cookies;
    }
    return this.#cookies;
  }
}
