import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { parseCookie } from 'cookie';
import { InvalidStateError } from '../errors.js';

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
  readonly #socket: IncomingMessage['socket'];
  readonly #search: string;
  #query: URLSearchParams | undefined;
  #cookies: Readonly<Record<string, string>> | undefined;

  constructor(raw: IncomingMessage) {
    this.#raw = raw;
    this.method = raw.method ?? 'GET';
    const url = raw.url ?? '/';
    const q = url.indexOf('?');
    this.path = q === -1 ? url : url.slice(0, q);
    this.#search = q === -1 ? '' : url.slice(q + 1);
    this.headers = raw.headers;
    this.#socket = raw.socket;
  }

  /**
   * The node:http request, for its body stream. Not kept once a WebSocket is open (the handler
   * still has everything above): reading it then throws `InvalidStateError`.
   */
  get raw(): IncomingMessage {
    if (this.#raw === null) {
      throw new InvalidStateError('the raw request is released once a WebSocket is open');
    }
    return this.#raw;
  }

  /** @internal Drops the node:http request so that an open WebSocket does not keep it alive. */
  release(): void {
    this.#raw = null;
  }

  /** The peer's address (the socket's; put a proxy's header to use in your own code). */
  get remoteAddress(): string {
    // Read on demand: it costs a getpeername() system call.
    return this.#socket.remoteAddress ?? '';
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
