import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Readable, Writable } from 'node:stream';
import type { Application } from '../application.js';
import type { BunServer } from './bun-api.js';

/**
 * Serves one HTTP request that reached Bun's `fetch` through `application.handleRequest`, the
 * code node:http runs: `RequestHandler` routes, static files (sirv), the 400/404/405 answers and
 * the access log. It gets the part of node:http's request and response they use, built from the
 * Fetch `Request`; the answer comes back as a Fetch `Response` once its head is known, with the
 * body streamed (a `HEAD` request's body is dropped, as node:http does).
 */
export function serveHttp(
  application: Application,
  fetchRequest: Request,
  server: BunServer,
  target: string,
): Promise<Response> {
  const req = new FetchIncomingMessage(fetchRequest, server, target);
  const res = new FetchServerResponse(fetchRequest.method === 'HEAD');
  // Only the members above are used: node:http's shapes, from Fetch.
  application.handleRequest(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  return res.response;
}

/** node:http's `IncomingMessage` as Gale and sirv read it: method, url, headers, socket, body. */
class FetchIncomingMessage extends Readable {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly httpVersion = '1.1';
  readonly socket: { readonly remoteAddress: string; readonly encrypted: boolean };
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  readonly #body: ReadableStream<Uint8Array> | null;

  constructor(fetchRequest: Request, server: BunServer, target: string) {
    super();
    this.method = fetchRequest.method;
    this.url = target;
    const headers: Record<string, string> = {};
    fetchRequest.headers.forEach((value, name) => {
      headers[name] = value;
    });
    this.headers = headers;
    this.#body = fetchRequest.body;
    this.socket = {
      encrypted: fetchRequest.url.startsWith('https:'),
      get remoteAddress(): string {
        return server.requestIP(fetchRequest)?.address ?? '';
      },
    };
  }

  override _read(): void {
    if (this.#body === null) {
      this.push(null);
      return;
    }
    this.#reader ??= this.#body.getReader();
    this.#reader.read().then(
      ({ done, value }) => {
        if (done) this.push(null);
        else this.push(value);
      },
      (error: unknown) => this.destroy(error instanceof Error ? error : new Error(String(error))),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#reader?.cancel().catch(() => {});
    // As node:http's: a client that went away is an 'error' only for a reader listening for one
    // (a body discarded after a 413 has none).
    callback(this.listenerCount('error') > 0 ? error : null);
  }
}

type HeaderValue = number | string | readonly string[];

/**
 * node:http's `ServerResponse` as `RequestHandler` and sirv write it (`statusCode`, `setHeader`,
 * `getHeader`, `writeHead`, `write`/`end`, `pipe` into it, `destroy`), resolving `response` with
 * the Fetch `Response`: a one-piece body (`end(body)`) is sent whole, a longer one streamed.
 */
class FetchServerResponse extends Writable {
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  readonly response: Promise<Response>;
  readonly #head: boolean;
  readonly #headers = new Map<string, HeaderValue>();
  #resolve!: (response: Response) => void;
  // The first chunk, held until a second one (streamed) or the end (sent whole).
  #first: Uint8Array | undefined;
  #stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  #pulled: (() => void) | undefined;

  constructor(head: boolean) {
    super();
    this.#head = head;
    this.response = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  setHeader(name: string, value: HeaderValue): this {
    this.#headers.set(name.toLowerCase(), value);
    return this;
  }

  getHeader(name: string): HeaderValue | undefined {
    return this.#headers.get(name.toLowerCase());
  }

  hasHeader(name: string): boolean {
    return this.#headers.has(name.toLowerCase());
  }

  removeHeader(name: string): void {
    this.#headers.delete(name.toLowerCase());
  }

  writeHead(
    status: number,
    message?: string | Readonly<Record<string, HeaderValue>>,
    headers?: Readonly<Record<string, HeaderValue>>,
  ): this {
    this.statusCode = status;
    if (typeof message === 'string') this.statusMessage = message;
    else headers = message;
    for (const [name, value] of Object.entries(headers ?? {})) this.setHeader(name, value);
    this.headersSent = true;
    return this;
  }

  override _write(chunk: Buffer, _encoding: string, callback: (error?: Error) => void): void {
    this.headersSent = true;
    if (this.#head || chunk.length === 0) {
      callback();
    } else if (this.#stream !== undefined) {
      this.#enqueue(chunk, callback);
    } else if (this.#first === undefined) {
      this.#first = chunk;
      callback();
    } else {
      this.#startStream();
      this.#enqueue(chunk, callback);
    }
  }

  override _final(callback: (error?: Error) => void): void {
    this.headersSent = true;
    if (this.#stream === undefined) {
      this.#answer(this.#first ?? null);
      this.#first = undefined;
    } else {
      this.#stream.close();
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#stream !== undefined) {
      // Cut the body short: Bun ends the connection (a response that lies about its length).
      this.#stream.error(error ?? new Error('response destroyed'));
    } else if (!this.writableFinished) {
      this.#answer(null, 500);
    }
    this.#pulled?.();
    callback(this.listenerCount('error') > 0 ? error : null);
  }

  #startStream(): void {
    const first = this.#first;
    this.#first = undefined;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#stream = controller;
        if (first !== undefined) controller.enqueue(first);
      },
      pull: () => {
        const pulled = this.#pulled;
        this.#pulled = undefined;
        pulled?.();
      },
      cancel: () => {
        // The client went away: stop whoever writes (a file stream piped in).
        this.destroy();
      },
    });
    this.#resolve(new Response(body, { status: this.statusCode, headers: this.#fetchHeaders() }));
  }

  // Backpressure: the writer's callback waits until Bun pulls for more.
  #enqueue(chunk: Uint8Array, callback: (error?: Error) => void): void {
    const stream = this.#stream!;
    stream.enqueue(chunk);
    if ((stream.desiredSize ?? 1) > 0) callback();
    else this.#pulled = () => callback();
  }

  #answer(body: Uint8Array | null, status = this.statusCode): void {
    this.#resolve(new Response(body, { status, headers: this.#fetchHeaders() }));
  }

  #fetchHeaders(): Headers {
    const headers = new Headers();
    for (const [name, value] of this.#headers) {
      if (typeof value === 'object') for (const item of value) headers.append(name, item);
      else headers.set(name, String(value));
    }
    return headers;
  }
}
