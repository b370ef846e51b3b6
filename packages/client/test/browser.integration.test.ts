import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Application,
  type ApplicationCloseOptions,
  type ApplicationOptions,
  type Broker,
  HTTPError,
  MemoryBroker,
  RequestHandler,
  type Route,
  silentLogger,
  WebSocketHandler,
} from '@gale/server';
import { until } from '@gale/test-utils';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClientConnection } from '../src/connection.js';
import type { createConnection, websocketConnect } from '../src/index.browser.js';

// The browser build (dist/index.browser.js, as `pnpm build` leaves it) in a real Chromium, against
// a gale server. Tests drive the page with page.evaluate; what crosses back is plain data.

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const distDir = join(packageDir, 'dist');
// The browser-safe subpaths of other Gale packages that the browser build imports (the page's
// import map points at them, as a bundler would resolve them): nothing else but relative modules.
const BROWSER_SAFE: Readonly<Record<string, string>> = {
  '@gale/frame/errors': join(packageDir, '..', 'frame', 'dist', 'errors.js'),
  '@gale/frame/resume': join(packageDir, '..', 'frame', 'dist', 'resume.js'),
  '@gale/io/clock': join(packageDir, '..', 'io', 'dist', 'clock.js'),
};
const pagePath = join(packageDir, 'test', 'browser', 'index.html');

// --- The server ---

/** Every message the echo route received, in order, across server restarts. */
const echoed: Array<string | Uint8Array> = [];
/** What the record-close route's handlers saw when their connection closed. */
const closes: Array<{ code: number | null; reason: string | null }> = [];

class EchoWebSocket extends WebSocketHandler {
  override onMessage(message: string | Uint8Array): Promise<void> {
    echoed.push(message);
    return this.writeMessage(message, { binary: typeof message !== 'string' });
  }
}

class CloseWebSocket extends WebSocketHandler {
  override open(code = '1000', reason = ''): void {
    this.close(Number(code), reason);
  }
}

class RecordCloseWebSocket extends WebSocketHandler {
  override onClose(): void {
    closes.push({ code: this.closeCode, reason: this.closeReason });
  }
}

class SubprotocolWebSocket extends WebSocketHandler {
  override selectSubprotocol(offered: readonly string[]): string | null {
    return offered.includes('chat.v2') ? 'chat.v2' : null;
  }
}

/** Whether each connection to the feed route resumed its topic, in the order they opened. */
const feedOpened: boolean[] = [];

/**
 * A topic with a snapshot, as an application with resumable topics is written: subscribes to
 * 'feed' and sends the snapshot (a direct message) only when the subscription did not resume
 * without loss. Selects `chat` when offered; answers each message directly with
 * `echo:<message>`.
 */
class FeedWebSocket extends WebSocketHandler {
  override selectSubprotocol(offered: readonly string[]): string | null {
    return offered.includes('chat') ? 'chat' : null;
  }

  override async open(): Promise<void> {
    await this.subscribe('feed');
    const resumed = this.resumed('feed');
    feedOpened.push(resumed);
    if (!resumed) await this.writeMessage('snapshot');
  }

  override onMessage(message: string | Uint8Array): Promise<void> {
    return this.writeMessage(`echo:${String(message)}`);
  }
}

/** Never answers a message (the heartbeat test's dead server). */
class SilentWebSocket extends WebSocketHandler {}

/** Handshakes that arrived at the stalling route, each waiting for the test to let it fail. */
const stalled: Array<() => void> = [];

/** Holds the handshake until released, then refuses it: a server that never answers in time. */
class StallWebSocket extends WebSocketHandler {
  override async prepare(): Promise<void> {
    await new Promise<void>((release) => stalled.push(release));
    throw new HTTPError(503);
  }
}

class PageHandler extends RequestHandler {
  override async get(): Promise<void> {
    this.setHeader('content-type', 'text/html; charset=utf-8');
    this.write(await readFile(pagePath));
  }
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * The built files, as a browser fetches them: `/dist/index.browser.js` and what it imports, and
 * the browser-safe subpaths of @gale/frame and @gale/io under `/frame/dist/` and `/io/dist/`.
 */
class DistHandler extends RequestHandler {
  override async get(path = ''): Promise<void> {
    const root = (this.options as { root?: string }).root ?? distDir;
    const file = resolve(root, path);
    const type = CONTENT_TYPES[extname(file)];
    if (!file.startsWith(root + sep) || type === undefined) throw new HTTPError(404);
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      throw new HTTPError(404);
    }
    this.setHeader('content-type', type);
    this.write(body);
  }
}

const routes: Route[] = [
  ['/', PageHandler],
  ['/dist/(.+)', DistHandler],
  ['/frame/dist/(.+)', DistHandler, { root: join(packageDir, '..', 'frame', 'dist') }],
  ['/io/dist/(.+)', DistHandler, { root: join(packageDir, '..', 'io', 'dist') }],
  ['/echo', EchoWebSocket],
  ['/close/(\\d+)/(.*)', CloseWebSocket],
  ['/record-close', RecordCloseWebSocket],
  ['/subprotocol', SubprotocolWebSocket],
  ['/silent', SilentWebSocket],
  ['/stall', StallWebSocket],
  ['/feed', FeedWebSocket],
];

let app: Application | undefined;
let port = 0;

/** Starts the application on `port` (0: any free port, remembered for restarts). */
async function startServer(onPort = 0, options: ApplicationOptions = {}): Promise<void> {
  const started = new Application(routes, { logger: silentLogger, accessLog: false, ...options });
  const server = await started.listen(onPort, '127.0.0.1');
  app = started;
  port = (server.address() as AddressInfo).port;
}

async function stopServer(options: number | ApplicationCloseOptions = 1000): Promise<void> {
  const stopping = app;
  app = undefined;
  await stopping?.close(options);
}

const wsUrl = (path: string): string => `ws://127.0.0.1:${port}${path}`;

// --- The browser ---

/** What the test page holds: the client's entry points and the connections tests opened. */
interface PageGlobals {
  gale: { createConnection: typeof createConnection; websocketConnect: typeof websocketConnect };
  conn: ClientConnection;
  pending: Promise<unknown>;
}

let browser: Browser | undefined;
let page: Page;
let pageErrors: string[] = [];

beforeAll(async () => {
  await startServer();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, 60_000);

afterAll(async () => {
  for (const release of stalled.splice(0)) release();
  try {
    await browser?.close();
  } finally {
    await stopServer();
  }
}, 30_000);

describe('the browser build', () => {
  beforeEach(async () => {
    pageErrors = [];
    page = await browser!.newPage();
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    await page.goto(`http://127.0.0.1:${port}/`);
    try {
      await page.waitForFunction(() => 'gale' in globalThis, undefined, { timeout: 20_000 });
    } catch (error) {
      throw new Error(`dist/index.browser.js did not load in Chromium: ${pageErrors.join('; ')}`, {
        cause: error,
      });
    }
  }, 30_000);

  afterEach(async () => {
    // A stalled handshake would keep the server from closing (its socket has left node:http).
    for (const release of stalled.splice(0)) release();
    await (page as Page | undefined)?.close();
  });

  /** An error as it crosses back from the page. */
  interface PageError {
    name: string;
    code: unknown;
    message: string;
  }

  it('echoes text, unicode text and binary, binary arriving as a Uint8Array', async () => {
    const bytes = [0, 1, 2, 127, 128, 200, 254, 255, 0];
    const result = await page.evaluate(
      async ({ url, bytes }) => {
        const g = globalThis as unknown as PageGlobals;
        const conn = await g.gale.websocketConnect(url);
        await conn.writeMessage('hello');
        const text = await conn.readMessage();
        await conn.writeMessage('héllo wörld 🌍 ✓ 日本語');
        const unicode = await conn.readMessage();
        await conn.writeMessage(new Uint8Array(bytes));
        const binary = await conn.readMessage();
        await conn.writeMessage(new Uint8Array(bytes).buffer);
        const fromArrayBuffer = await conn.readMessage();
        await conn.writeMessage('é', { binary: true });
        const utf8 = await conn.readMessage();
        await conn.writeMessage({ hello: ['json'] });
        const json = await conn.readMessage();
        await conn.close();
        const show = (m: unknown) =>
          m instanceof Uint8Array
            ? { kind: 'bytes', bytes: Array.from(m) }
            : { kind: typeof m, value: m };
        return {
          text: show(text),
          unicode: show(unicode),
          binary: show(binary),
          fromArrayBuffer: show(fromArrayBuffer),
          utf8: show(utf8),
          json: show(json),
          state: conn.state,
        };
      },
      { url: wsUrl('/echo'), bytes },
    );
    expect(result).toEqual({
      text: { kind: 'string', value: 'hello' },
      unicode: { kind: 'string', value: 'héllo wörld 🌍 ✓ 日本語' },
      binary: { kind: 'bytes', bytes },
      fromArrayBuffer: { kind: 'bytes', bytes },
      utf8: { kind: 'bytes', bytes: [0xc3, 0xa9] },
      json: { kind: 'string', value: '{"hello":["json"]}' },
      state: 'closed',
    });
    expect(pageErrors).toEqual([]);
  });

  it('sends a large binary message and reads its exact echo', async () => {
    const result = await page.evaluate(async (url) => {
      const g = globalThis as unknown as PageGlobals;
      const conn = await g.gale.websocketConnect(url);
      const sent = new Uint8Array(4 * 1024 * 1024);
      for (let i = 0; i < sent.length; i++) sent[i] = (i * 31 + (i >> 12)) & 0xff;
      await conn.writeMessage(sent);
      const echo = await conn.readMessage();
      await conn.close();
      return {
        isBytes: echo instanceof Uint8Array,
        length: echo instanceof Uint8Array ? echo.length : -1,
        same: echo instanceof Uint8Array && echo.every((byte, i) => byte === sent[i]),
      };
    }, wsUrl('/echo'));
    expect(result).toEqual({ isBytes: true, length: 4 * 1024 * 1024, same: true });
  });

  it('offers subprotocols and reports the one the server selected', async () => {
    const result = await page.evaluate(async (url) => {
      const g = globalThis as unknown as PageGlobals;
      const chosen = await g.gale.websocketConnect(url, { subprotocols: ['chat.v1', 'chat.v2'] });
      const none = await g.gale.websocketConnect(url);
      const selected = [chosen.selectedSubprotocol, none.selectedSubprotocol];
      await Promise.all([chosen.close(), none.close()]);
      return selected;
    }, wsUrl('/subprotocol'));
    expect(result).toEqual(['chat.v2', null]);
  });

  it('reads null once the server closed, with its close code and reason', async () => {
    const result = await page.evaluate(async (url) => {
      const g = globalThis as unknown as PageGlobals;
      const conn = await g.gale.websocketConnect(url);
      const message = await conn.readMessage();
      const again = await conn.readMessage();
      return {
        message,
        again,
        state: conn.state,
        closeCode: conn.closeCode,
        closeReason: conn.closeReason,
      };
    }, wsUrl('/close/4001/bye'));
    expect(result).toEqual({
      message: null,
      again: null,
      state: 'closed',
      closeCode: 4001,
      closeReason: 'bye',
    });
  });

  it("sends the client's close code and reason to the server", async () => {
    closes.length = 0;
    const state = await page.evaluate(async (url) => {
      const g = globalThis as unknown as PageGlobals;
      const conn = await g.gale.websocketConnect(url);
      await conn.close(4002, 'later');
      return conn.state;
    }, wsUrl('/record-close'));
    expect(state).toBe('closed');
    await vi.waitFor(() => expect(closes).toEqual([{ code: 4002, reason: 'later' }]), {
      timeout: 10_000,
      interval: 20,
    });
  });

  it('fails a handshake the server refuses (404) with ConnectionError', async () => {
    const error = await page.evaluate(async (url): Promise<PageError | null> => {
      const g = globalThis as unknown as PageGlobals;
      try {
        await g.gale.websocketConnect(url);
        return null;
      } catch (e) {
        const error = e as Error & { code?: unknown };
        return { name: error.name, code: error.code, message: error.message };
      }
    }, wsUrl('/no-such-route'));
    expect(error).toMatchObject({ name: 'ConnectionError', code: 'ERR_CONNECTION' });
    expect(error?.message).toMatch(/browser/i);
  });

  it('aborts a handshake in progress when the signal aborts, rejecting with AbortError', async () => {
    const before = stalled.length;
    await page.evaluate((url) => {
      const g = globalThis as unknown as PageGlobals & { controller: AbortController };
      g.controller = new AbortController();
      g.conn = g.gale.createConnection(url, { signal: g.controller.signal });
      g.pending = g.conn.opened.then(
        () => null,
        (e: Error & { code?: unknown; cause?: unknown }) => ({
          name: e.name,
          code: e.code,
          cause: String(e.cause),
        }),
      );
    }, wsUrl('/stall'));
    // The server holds the handshake: the connection is still connecting when the signal aborts.
    await vi.waitFor(() => expect(stalled.length).toBeGreaterThan(before), {
      timeout: 20_000,
      interval: 20,
    });
    const result = await page.evaluate(async () => {
      const g = globalThis as unknown as PageGlobals & { controller: AbortController };
      const stateWhenAborted = g.conn.state;
      g.controller.abort('user navigated away');
      return { stateWhenAborted, error: await g.pending, state: g.conn.state };
    });
    expect(result).toEqual({
      stateWhenAborted: 'connecting',
      error: { name: 'AbortError', code: 'ERR_ABORTED', cause: 'user navigated away' },
      state: 'closed',
    });
  });

  it('gives up on a handshake that takes longer than connectTimeout', async () => {
    const error = await page.evaluate(async (url): Promise<PageError | null> => {
      const g = globalThis as unknown as PageGlobals;
      try {
        await g.gale.websocketConnect(url, { connectTimeout: 200 });
        return null;
      } catch (e) {
        const error = e as Error & { code?: unknown };
        return { name: error.name, code: error.code, message: error.message };
      }
    }, wsUrl('/stall'));
    expect(error).toMatchObject({ name: 'ConnectTimeoutError', code: 'ERR_CONNECT_TIMEOUT' });
  });

  it('drops a socket whose server stops answering the heartbeat', async () => {
    const result = await page.evaluate(async (url) => {
      const g = globalThis as unknown as PageGlobals;
      const conn = await g.gale.websocketConnect(url, {
        heartbeat: { interval: 50, timeout: 100, message: 'ping' },
      });
      const info = await new Promise<{ code: number; wasClean: boolean; error: string }>(
        (resolve) =>
          conn.addEventListener('close', (event) =>
            resolve({
              code: event.info.code,
              wasClean: event.info.wasClean,
              error: `${event.info.error?.name}: ${event.info.error?.message}`,
            }),
          ),
      );
      return { info, state: conn.state, message: await conn.readMessage() };
    }, wsUrl('/silent'));
    expect(result).toEqual({
      info: {
        code: 1006,
        wasClean: false,
        error: expect.stringMatching(/^ConnectionError: .*heartbeat/),
      },
      state: 'closed',
      message: null,
    });
  });

  it('refuses a close code browsers cannot send, and the connection stays usable', async () => {
    const result = await page.evaluate(async (url) => {
      const g = globalThis as unknown as PageGlobals;
      const conn = await g.gale.websocketConnect(url);
      let error: { name: string; code: unknown } | null = null;
      try {
        await conn.close(1001);
      } catch (e) {
        const err = e as Error & { code?: unknown };
        error = { name: err.name, code: err.code };
      }
      const stateAfter = conn.state;
      await conn.writeMessage('still here');
      const echo = await conn.readMessage();
      await conn.close();
      return { error, stateAfter, echo };
    }, wsUrl('/echo'));
    expect(result).toEqual({
      error: { name: 'InvalidArgumentError', code: 'ERR_INVALID_ARGUMENT' },
      stateAfter: 'open',
      echo: 'still here',
    });
  });

  it('drops the socket when a message exceeds maxMessageSize, and readMessage ends', async () => {
    const result = await page.evaluate(async (url) => {
      const g = globalThis as unknown as PageGlobals;
      const conn = await g.gale.websocketConnect(url, { maxMessageSize: 10 });
      await conn.writeMessage('this is longer than ten bytes');
      const message = await conn.readMessage();
      return { message, state: conn.state };
    }, wsUrl('/echo'));
    expect(result).toEqual({ message: null, state: 'closed' });
  });

  it('refuses ping() with InvalidArgumentError: browsers cannot send pings', async () => {
    const error = await page.evaluate(async (url): Promise<PageError | null> => {
      const g = globalThis as unknown as PageGlobals;
      const conn = await g.gale.websocketConnect(url);
      try {
        conn.ping();
        return null;
      } catch (e) {
        const error = e as Error & { code?: unknown };
        return { name: error.name, code: error.code, message: error.message };
      } finally {
        await conn.close();
      }
    }, wsUrl('/echo'));
    expect(error).toMatchObject({ name: 'InvalidArgumentError', code: 'ERR_INVALID_ARGUMENT' });
    expect(error?.message).toMatch(/heartbeat/);
  });

  it.each([
    ['headers', { headers: { authorization: 'Bearer x' } }],
    ['origin', { origin: 'https://example.com' }],
    ['pingInterval', { pingInterval: 1000 }],
    ['pingTimeout', { pingTimeout: 1000 }],
    ['ca', { ca: 'not a certificate' }],
  ])('refuses the Node-only option %s with InvalidArgumentError', async (name, options) => {
    const error = await page.evaluate(
      async ({ url, options }): Promise<PageError | null> => {
        const g = globalThis as unknown as PageGlobals;
        try {
          const conn = await g.gale.websocketConnect(url, options);
          await conn.close();
          return null;
        } catch (e) {
          const error = e as Error & { code?: unknown };
          return { name: error.name, code: error.code, message: error.message };
        }
      },
      { url: wsUrl('/echo'), options },
    );
    expect(error).toMatchObject({ name: 'InvalidArgumentError', code: 'ERR_INVALID_ARGUMENT' });
    expect(error?.message).toContain(name);
  });

  it('reconnects after the server restarts and sends what was queued exactly once, in order', async () => {
    const initialState = await page.evaluate(async (url) => {
      const g = globalThis as unknown as PageGlobals;
      g.conn = g.gale.createConnection(url, { reconnect: { minDelay: 50, maxDelay: 200 } });
      const state = g.conn.state;
      await g.conn.opened;
      return state;
    }, wsUrl('/echo'));
    expect(initialState).toBe('connecting');

    await stopServer();
    await page.waitForFunction(
      () => (globalThis as unknown as PageGlobals).conn.state === 'reconnecting',
      undefined,
      { timeout: 20_000 },
    );
    const states = await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      const states: string[] = [];
      const writes: Array<Promise<void>> = [];
      for (let i = 0; i < 5; i++) {
        writes.push(g.conn.writeMessage(`queued-${i}`));
        states.push(g.conn.state);
      }
      g.pending = Promise.allSettled(writes);
      return states;
    });
    expect(states).toEqual(Array(5).fill('reconnecting'));

    await startServer(port);
    const result = await page.evaluate(async () => {
      const g = globalThis as unknown as PageGlobals;
      const settled = (await g.pending) as Array<PromiseSettledResult<void>>;
      const messages: unknown[] = [];
      for (let i = 0; i < 5; i++) messages.push(await g.conn.readMessage());
      const state = g.conn.state;
      await g.conn.close();
      return { writes: settled.map((s) => s.status), messages, state };
    });
    expect(result).toEqual({
      writes: Array(5).fill('fulfilled'),
      messages: ['queued-0', 'queued-1', 'queued-2', 'queued-3', 'queued-4'],
      state: 'open',
    });
    expect(echoed.filter((m) => typeof m === 'string' && m.startsWith('queued-'))).toEqual([
      'queued-0',
      'queued-1',
      'queued-2',
      'queued-3',
      'queued-4',
    ]);
  }, 60_000);

  describe('resuming over gale.v1', () => {
    /** A position of a topic, as it crosses back from the page. */
    interface At {
      epoch: string;
      offset: number;
    }

    /** What the page of these tests holds besides the connection. */
    interface ResumePage extends PageGlobals {
      received: Array<string | Uint8Array>;
      gaps: Array<{ topic: string; from: At; to: At }>;
    }

    const range = (from: number, to: number): string[] =>
      Array.from({ length: to - from + 1 }, (_, k) => `n${from + k}`);

    /** Publishes n<from>…n<to> to 'feed' on the running server. */
    const publish = (from: number, to: number): void => {
      for (const message of range(from, to)) app!.publish('feed', message);
    };

    /** Opens the page's connection to the feed: reconnecting, resuming, recording every message. */
    async function openFeed(): Promise<void> {
      await page.evaluate(async (url) => {
        const g = globalThis as unknown as ResumePage;
        g.received = [];
        g.gaps = [];
        g.conn = g.gale.createConnection(url, {
          reconnect: { minDelay: 20, maxDelay: 100 },
          resume: true,
          onMessage: (message) => {
            g.received.push(message);
          },
        });
        g.conn.addEventListener('gap', ({ topic, from, to }) => g.gaps.push({ topic, from, to }));
        await g.conn.opened;
      }, wsUrl('/feed'));
    }

    /** Waits (polling in the page, as `until` does here) until it received `count` messages. */
    async function pageReceived(count: number): Promise<void> {
      await page.waitForFunction(
        (n) => (globalThis as unknown as ResumePage).received.length >= n,
        count,
        { timeout: 20_000 },
      );
    }

    /** What the page's connection received and holds. */
    function feedState() {
      return page.evaluate(() => {
        const g = globalThis as unknown as ResumePage;
        return {
          received: g.received.map((m) => (typeof m === 'string' ? m : { bytes: Array.from(m) })),
          gaps: g.gaps,
          position: g.conn.positions().get('feed') as At | undefined,
          duplicates: g.conn.duplicates,
          state: g.conn.state,
          subprotocol: g.conn.selectedSubprotocol,
        };
      });
    }

    async function closeFeed(): Promise<void> {
      await page.evaluate(() => (globalThis as unknown as ResumePage).conn.close());
    }

    beforeEach(() => {
      feedOpened.length = 0;
    });

    it('resumes after a restart (1012) when the history outlives the server: each message once, in order, no second snapshot', async () => {
      const history = new MemoryBroker();
      // The history outlives the Application, as a Redis broker's does (it lives in Redis).
      // Application.close() closes its broker, so both Applications get this wrapper instead of
      // the MemoryBroker itself: it forwards subscribe, unsubscribe and publish and has no
      // close(), and the first Application's close leaves the history to the second.
      const shared: Broker = {
        subscribe: (topic, subscriber, options) => history.subscribe(topic, subscriber, options),
        unsubscribe: (topic, subscriber) => history.unsubscribe(topic, subscriber),
        publish: (topic, message, options) => history.publish(topic, message, options),
      };
      await stopServer();
      await startServer(port, { broker: shared });
      await openFeed();
      await pageReceived(1);
      publish(1, 3);
      await pageReceived(4);
      const before = (await feedState()).position!;

      // The deploy: every connection gets 1012, and the server is gone.
      await stopServer({ code: 1012 });
      // Published while it is down, through the broker (as another instance publishes to Redis).
      shared.publish('feed', 'n4');
      shared.publish('feed', 'n5');
      await startServer(port, { broker: shared });
      // Right after it is back (no I/O has run since it listens: the page cannot be back yet).
      publish(6, 6);
      await pageReceived(7);
      await until(() => feedOpened.length === 2, 'the resumed connection opened');
      // Live after the resume: what came before it is all there was.
      publish(7, 7);
      await pageReceived(8);

      expect(await feedState()).toEqual({
        received: ['snapshot', ...range(1, 7)],
        gaps: [],
        position: { epoch: before.epoch, offset: 7 },
        duplicates: 0,
        state: 'open',
        subprotocol: null,
      });
      expect(before).toEqual({ epoch: expect.any(String), offset: 3 });
      expect(feedOpened).toEqual([false, true]);
      await closeFeed();
    }, 60_000);

    it('reports the gap from the old epoch to the new, and gets a fresh snapshot, after a restart that lost the history', async () => {
      await stopServer();
      await startServer(port, { broker: new MemoryBroker() });
      await openFeed();
      await pageReceived(1);
      publish(1, 3);
      await pageReceived(4);
      const before = (await feedState()).position!;

      // A restarted in-memory server: its broker starts empty, in a new epoch.
      await stopServer({ code: 1012 });
      await startServer(port, { broker: new MemoryBroker() });
      // Right after it is back, before the page can be: the new broker keeps them.
      publish(4, 5);
      await pageReceived(7);
      await until(() => feedOpened.length === 2, 'the second connection opened');
      publish(6, 6);
      await pageReceived(8);

      const after = await feedState();
      const epoch = after.position?.epoch;
      expect(epoch).toEqual(expect.any(String));
      expect(epoch).not.toBe(before.epoch);
      expect(after).toEqual({
        // What the new epoch kept (replayed as the subscription starts, after the gap), then
        // the snapshot the app sends because resumed('feed') is false, then live.
        received: ['snapshot', ...range(1, 5), 'snapshot', 'n6'],
        // All of the old epoch after n3, and nothing of the new one: n4 is its offset 1.
        gaps: [{ topic: 'feed', from: before, to: { epoch, offset: 0 } }],
        position: { epoch, offset: 3 },
        duplicates: 0,
        state: 'open',
        subprotocol: null,
      });
      expect(feedOpened).toEqual([false, false]);
      await closeFeed();
    }, 60_000);

    it("gives Chromium's own WebSocket exactly the plain messages and the app's subprotocol, beside a gale.v1 client", async () => {
      /** A native WebSocket of the page and what it received. */
      interface Plain {
        ws: WebSocket;
        protocol: string | null;
        messages: Array<string | { bytes: number[] }>;
      }
      type PlainPage = ResumePage & { plain: Record<'none' | 'chat', Plain> };

      await openFeed();
      await page.evaluate((url) => {
        const g = globalThis as unknown as PlainPage;
        const open = (...protocols: string[]): Plain => {
          const ws = new WebSocket(url, protocols);
          ws.binaryType = 'arraybuffer';
          const plain: Plain = { ws, protocol: null, messages: [] };
          ws.onopen = () => {
            plain.protocol = ws.protocol;
          };
          ws.onmessage = ({ data }: MessageEvent<string | ArrayBuffer>) => {
            plain.messages.push(
              typeof data === 'string' ? data : { bytes: Array.from(new Uint8Array(data)) },
            );
          };
          return plain;
        };
        g.plain = { none: open(), chat: open('chat') };
      }, wsUrl('/feed'));
      const plainReceived = (count: number) =>
        page.waitForFunction(
          (n) => {
            const { none, chat } = (globalThis as unknown as PlainPage).plain;
            return none.messages.length >= n && chat.messages.length >= n;
          },
          count,
          { timeout: 20_000 },
        );
      // Each got its snapshot, so each has subscribed.
      await plainReceived(1);
      await pageReceived(1);
      await until(() => feedOpened.length === 3, 'three connections opened');

      app!.publish('feed', 'n1');
      app!.publish('feed', new Uint8Array([0x0a, 1, 2]));
      // Payloads that look like gale.v1's envelope are still only payloads.
      app!.publish('feed', '["feed","x",1]\nlooks like an envelope');
      app!.publish('feed', '\nstarts like a direct message');
      app!.publish('feed', { n: 5 });
      await plainReceived(6);
      await page.evaluate(() => {
        const { none, chat } = (globalThis as unknown as PlainPage).plain;
        none.ws.send('hi');
        chat.ws.send('hi');
      });
      await plainReceived(7);
      await pageReceived(6);

      const result = await page.evaluate(() => {
        const { none, chat } = (globalThis as unknown as PlainPage).plain;
        const show = ({ protocol, messages }: Plain) => ({ protocol, messages });
        const shown = { none: show(none), chat: show(chat) };
        none.ws.close();
        chat.ws.close();
        return shown;
      });
      const published = [
        'n1',
        { bytes: [0x0a, 1, 2] },
        '["feed","x",1]\nlooks like an envelope',
        '\nstarts like a direct message',
        '{"n":5}',
      ];
      const messages = ['snapshot', ...published, 'echo:hi'];
      expect(result).toEqual({
        none: { protocol: '', messages },
        chat: { protocol: 'chat', messages },
      });
      // The gale.v1 client beside them got the same payloads, its envelope removed.
      const gale = await feedState();
      expect(gale.received).toEqual(['snapshot', ...published]);
      expect(gale.subprotocol).toBeNull();
      expect(feedOpened).toEqual([false, false, false]);
      await closeFeed();
    });
  });
});

describe('the browser bundle', () => {
  // The browser loads dist/index.browser.js and every module it imports as they are: a `node:`
  // import, or one of @gale/frame's or @gale/io's Node modules (Node's transport leaking into the
  // browser build), would break it. Their browser-safe subpaths are followed and held to the
  // same rule.
  it('imports only relative modules and browser-safe subpaths, never node: or a Node module', async () => {
    const seen = new Set<string>();
    const offending: string[] = [];
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = await readFile(file, 'utf8');
      for (const specifier of importSpecifiers(source)) {
        if (specifier.startsWith('./') || specifier.startsWith('../')) {
          await visit(resolve(dirname(file), specifier));
        } else if (BROWSER_SAFE[specifier] !== undefined) {
          await visit(BROWSER_SAFE[specifier]);
        } else {
          offending.push(`${file.slice(packageDir.length + 1)} imports ${specifier}`);
        }
      }
    };
    await visit(join(distDir, 'index.browser.js'));
    expect(seen.size).toBeGreaterThan(1);
    expect([...seen]).toContain(join(distDir, 'transport-browser.js'));
    expect(offending).toEqual([]);
  });
});

/** The specifiers of every static import/export-from and literal dynamic import() in `source`. */
function importSpecifiers(source: string): string[] {
  const specifiers: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of source.matchAll(pattern)) specifiers.push(match[1]!);
  }
  return specifiers;
}
