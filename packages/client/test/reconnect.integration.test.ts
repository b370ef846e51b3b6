import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Application, HTTPError, silentLogger, WebSocketHandler } from '@gale/server';
import { freePort, ManualClock, until } from '@gale/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import {
  backoffCap,
  backoffDelay,
  type ClientConnection,
  type CloseInfo,
  ConnectionError,
  type ConnectionState,
  type ConnectOptions,
  createConnection,
  HandshakeError,
  MessageDroppedError,
  type ReconnectingEvent,
  type ReconnectPolicy,
  WebSocketClosedError,
} from '../src/index.node.ts';
import { closeAfterEach } from './close-after-each.ts';

// Reconnection against a @gale/server that is stopped and started again on the same port. The
// server records every message it receives and how many sockets each client (`?client=`) has
// open at once; assertions are about outcomes (what arrived, in which order, how often), never
// about how long anything took.

// ─── A server that can be killed and restarted on the same port ──────────────────────────────

/** What every incarnation of the server saw, by client. */
class Recorder {
  readonly received = new Map<string, string[]>();
  readonly live = new Map<string, number>();
  readonly maxLive = new Map<string, number>();
  readonly connections = new Map<string, number>();

  opened(client: string): void {
    const live = (this.live.get(client) ?? 0) + 1;
    this.live.set(client, live);
    this.maxLive.set(client, Math.max(live, this.maxLive.get(client) ?? 0));
    this.connections.set(client, (this.connections.get(client) ?? 0) + 1);
  }

  closed(client: string): void {
    this.live.set(client, (this.live.get(client) ?? 1) - 1);
  }

  message(client: string, message: string): void {
    const list = this.received.get(client) ?? [];
    list.push(message);
    this.received.set(client, list);
  }

  messagesOf(client: string): readonly string[] {
    return this.received.get(client) ?? [];
  }
}

function recordingHandler(recorder: Recorder) {
  return class Recording extends WebSocketHandler {
    readonly #client = this.request.query.get('client') ?? '?';

    override open(): void {
      recorder.opened(this.#client);
    }

    override onMessage(message: string | Uint8Array): void {
      recorder.message(
        this.#client,
        typeof message === 'string' ? message : Buffer.from(message).toString(),
      );
    }

    override onClose(): void {
      recorder.closed(this.#client);
    }
  };
}

function byeHandler(recorder: Recorder) {
  return class Bye extends WebSocketHandler {
    override open(): void {
      recorder.opened(this.request.query.get('client') ?? '?');
      this.close(4001, 'bye');
    }
  };
}

class Refuse extends WebSocketHandler {
  override prepare(): void {
    throw new HTTPError(401, 'no');
  }
}

class RestartableServer {
  readonly recorder = new Recorder();
  port = 0;
  #app: Application | null = null;
  #http: Server | null = null;
  readonly #sockets = new Set<Socket>();

  async start(): Promise<void> {
    const app = new Application(
      [
        ['/record', recordingHandler(this.recorder)],
        ['/bye', byeHandler(this.recorder)],
        ['/refuse', Refuse],
      ],
      { logger: silentLogger, accessLog: false },
    );
    const http = await app.listen(this.port, '127.0.0.1');
    http.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#app = app;
    this.#http = http;
    this.port = (http.address() as AddressInfo).port;
  }

  /** Graceful: 1001 "going away" to every client. Abrupt: sockets destroyed, no Close frame. */
  async stop(abrupt = false): Promise<void> {
    const app = this.#app;
    if (app === null) return;
    this.#app = null;
    if (abrupt) {
      this.#http?.close();
      for (const socket of this.#sockets) socket.destroy();
    }
    await app.close(abrupt ? 0 : 1000);
    this.#http = null;
  }

  url(path: string): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }
}

const servers: RestartableServer[] = [];
const track = closeAfterEach();
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop(true)));
});

async function startServer(): Promise<RestartableServer> {
  const server = new RestartableServer();
  servers.push(server);
  await server.start();
  return server;
}

// ─── Client-side bookkeeping ─────────────────────────────────────────────────────────────────

interface Observed {
  readonly connection: ClientConnection;
  readonly states: ConnectionState[];
  readonly reconnecting: ReconnectingEvent[];
  readonly drops: Array<string | Uint8Array>;
  readonly closes: CloseInfo[];
  reconnects: number;
}

function observe(url: string, options: ConnectOptions): Observed {
  const connection = track(createConnection(url, options));
  const observed: Observed = {
    connection,
    states: [],
    reconnecting: [],
    drops: [],
    closes: [],
    reconnects: 0,
  };
  connection.addEventListener('statechange', (event) => observed.states.push(event.state));
  connection.addEventListener('reconnecting', (event) => observed.reconnecting.push(event));
  connection.addEventListener('reconnect', () => {
    observed.reconnects += 1;
  });
  connection.addEventListener('drop', (event) => observed.drops.push(event.error.data));
  connection.addEventListener('close', (event) => observed.closes.push(event.info));
  return observed;
}

function expectDelaysWithinBounds(
  events: readonly ReconnectingEvent[],
  policy: { minDelay: number; maxDelay: number; factor: number; jitter: number },
): void {
  for (const event of events) {
    const cap = Math.min(policy.maxDelay, policy.minDelay * policy.factor ** event.attempt);
    expect(event.delay).toBeGreaterThanOrEqual(cap * (1 - policy.jitter));
    expect(event.delay).toBeLessThanOrEqual(cap);
  }
}

/** Whether `list` holds every item of `items`, each exactly once, in this order. */
function expectExactlyOnceInOrder(list: readonly string[], items: readonly string[]): void {
  for (const item of items)
    expect(
      list.filter((x) => x === item),
      item,
    ).toHaveLength(1);
  const positions = items.map((item) => list.indexOf(item));
  expect(positions).toEqual([...positions].sort((a, b) => a - b));
}

// ─── Tests ───────────────────────────────────────────────────────────────────────────────────

describe('backoffDelay', () => {
  const policy: ReconnectPolicy = {
    minDelay: 100,
    maxDelay: 1000,
    factor: 2,
    jitter: 0.5,
    maxRetries: Number.POSITIVE_INFINITY,
  };

  it('caps retry n at min(maxDelay, minDelay * factor ** n)', () => {
    expect([0, 1, 2, 3, 4, 5, 60].map((n) => backoffCap(n, policy))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
  });

  it('maps a random 0 to cap * (1 - jitter) and a random near 1 to the cap', () => {
    expect(backoffDelay(0, policy, () => 0)).toBe(50);
    expect(backoffDelay(0, policy, () => 0.999999)).toBeCloseTo(100, 3);
    expect(backoffDelay(3, policy, () => 0)).toBe(400);
    expect(backoffDelay(3, policy, () => 0.999999)).toBeCloseTo(800, 2);
    expect(backoffDelay(9, policy, () => 0.5)).toBe(750);
    expect(backoffDelay(2, { ...policy, jitter: 1 }, () => 0)).toBe(0);
  });

  it('draws every delay within [cap * (1 - jitter), cap]', () => {
    for (const jitter of [0, 0.25, 1]) {
      for (let attempt = 0; attempt < 8; attempt++) {
        const cap = backoffCap(attempt, policy);
        for (let i = 0; i < 200; i++) {
          const delay = backoffDelay(attempt, { ...policy, jitter });
          expect(delay).toBeGreaterThanOrEqual(cap * (1 - jitter));
          expect(delay).toBeLessThanOrEqual(cap);
        }
      }
    }
    expect(backoffDelay(4, { ...policy, jitter: 0 }, () => 0.7)).toBe(1000);
  });
});

describe('reconnect', () => {
  const policy = { minDelay: 20, maxDelay: 200, factor: 2, jitter: 1 };

  it('survives 5 server restarts, delivering every message written while down exactly once, in order', async () => {
    const server = await startServer();
    let hookRuns = 0;
    const observed = observe(server.url('/record?client=restarts'), {
      reconnect: { minDelay: 20, maxDelay: 200, jitter: 1 },
      onReconnect: (connection) => {
        hookRuns += 1;
        // A resubscription, delivered exactly once like everything else.
        void connection.writeMessage(`sub:${hookRuns}`);
      },
    });
    const { connection } = observed;
    await connection.opened;
    const received = () => server.recorder.messagesOf('restarts');

    const written: string[] = [];
    let n = 0;
    const write = (kind: string) => {
      const message = `${kind}:${n++}`;
      written.push(message);
      return connection.writeMessage(message);
    };

    for (let round = 1; round <= 5; round++) {
      for (let i = 0; i < 3; i++) await write('open');
      // Everything written while open has arrived before the server goes away.
      await until(() => received().length >= written.length + round - 1, 'the server has them');

      const attemptsBefore = observed.reconnecting.length;
      await server.stop(round % 2 === 0);
      await until(() => connection.state === 'reconnecting', 'the client noticed');
      const queued = Array.from({ length: 5 }, () => write('queued'));
      // Let it fail a few times while the server is down, so that the backoff grows.
      await until(
        () => observed.reconnecting.slice(attemptsBefore).some((event) => event.attempt >= 2),
        'three attempts failed',
      );
      expect(connection.state).toBe('reconnecting');
      await server.start();
      await until(() => observed.reconnects === round, `reconnection ${round}`);
      await Promise.all(queued);
      expect(hookRuns).toBe(round);
      await until(() => received().length >= written.length + round, 'the queue arrived');
    }
    await write('last');
    await until(() => received().includes(written.at(-1) as string), 'the last message arrived');
    await connection.close();

    // Exactly once, in order, nothing else.
    expectExactlyOnceInOrder(received(), written);
    const subs = [1, 2, 3, 4, 5].map((i) => `sub:${i}`);
    expectExactlyOnceInOrder(received(), subs);
    expect(received()).toHaveLength(written.length + subs.length);

    expect(observed.states).toEqual([
      'open',
      ...Array.from({ length: 5 }, () => ['reconnecting', 'open']).flat(),
      'closing',
      'closed',
    ]);
    expect(observed.reconnects).toBe(5);
    expect(hookRuns).toBe(5);
    expect(server.recorder.maxLive.get('restarts')).toBe(1);
    expect(server.recorder.connections.get('restarts')).toBe(6);

    // Attempts count from 0 after every loss; each one's delay respects its cap.
    const attempts = observed.reconnecting.map((event) => event.attempt);
    expect(attempts.filter((attempt) => attempt === 0)).toHaveLength(5);
    for (const [i, attempt] of attempts.entries()) {
      if (attempt !== 0) expect(attempt).toBe((attempts[i - 1] as number) + 1);
    }
    expectDelaysWithinBounds(observed.reconnecting, policy);
    // What ended each socket: a 1001 from the graceful stops, 1006 from the abrupt ones, then
    // refused connections.
    const losses = observed.reconnecting.filter((event) => event.attempt === 0);
    expect(losses.map((event) => event.info.code)).toEqual([1001, 1006, 1001, 1006, 1001]);
    for (const event of observed.reconnecting) {
      if (event.attempt > 0) expect(event.info.error).toBeInstanceOf(ConnectionError);
    }
    expect(observed.drops).toEqual([]);
    expect(observed.closes).toHaveLength(1);
  });

  it('sends what onReconnect writes before the messages queued while down', async () => {
    const server = await startServer();
    const observed = observe(server.url('/record?client=resubscribe'), {
      reconnect: policy,
      onReconnect: (connection) => {
        void connection.writeMessage('subscribe');
      },
    });
    const { connection } = observed;
    await connection.opened;
    await server.stop();
    await until(() => connection.state === 'reconnecting', 'the client noticed');
    const queued = [connection.writeMessage('q1'), connection.writeMessage('q2')];
    await server.start();
    await Promise.all(queued);
    await until(() => server.recorder.messagesOf('resubscribe').length === 3, 'all three');
    expect(server.recorder.messagesOf('resubscribe')).toEqual(['subscribe', 'q1', 'q2']);
  });

  it('drops what does not fit in sendQueueSize while down, and delivers the rest exactly once', async () => {
    const server = await startServer();
    const observed = observe(server.url('/record?client=small-queue'), {
      reconnect: policy,
      sendQueueSize: 3,
    });
    const { connection } = observed;
    await connection.opened;
    const received = () => server.recorder.messagesOf('small-queue');

    const written: string[] = [];
    const rejected: string[] = [];
    const dropErrors: MessageDroppedError[] = [];
    let n = 0;
    const write = (kind: string) => {
      const message = `${kind}:${n++}`;
      written.push(message);
      const done = connection.writeMessage(message);
      done.catch((error: unknown) => {
        rejected.push(message);
        if (error instanceof MessageDroppedError) dropErrors.push(error);
      });
      return done;
    };

    for (let round = 1; round <= 3; round++) {
      await write('open');
      await until(() => received().length === written.length - rejected.length, 'arrived');
      await server.stop(round === 2);
      await until(() => connection.state === 'reconnecting', 'the client noticed');
      const batch = Array.from({ length: 5 }, () => write('queued'));
      // The two beyond the queue are refused at once.
      for (const beyond of batch.slice(3)) {
        await expect(beyond).rejects.toBeInstanceOf(MessageDroppedError);
      }
      await server.start();
      await until(() => observed.reconnects === round, `reconnection ${round}`);
      await Promise.all(batch.slice(0, 3));
    }
    await write('last');
    await until(() => received().includes(written.at(-1) as string), 'the last message arrived');
    await connection.close();

    const delivered = received();
    expect(rejected).toHaveLength(6);
    expect(dropErrors).toHaveLength(6);
    // Each drop event carries the data its rejected promise carried.
    expect(observed.drops).toEqual(dropErrors.map((error) => error.data));
    expect(dropErrors.map((error) => error.data)).toEqual(rejected);
    // The dropped ones are the writes beyond the queue: the 4th and 5th of each batch.
    expect(rejected).toEqual([
      'queued:4',
      'queued:5',
      'queued:10',
      'queued:11',
      'queued:16',
      'queued:17',
    ]);
    // Nothing both delivered and dropped; delivered + dropped = written.
    expect(delivered.filter((message) => rejected.includes(message))).toEqual([]);
    expect(delivered.length + rejected.length).toBe(written.length);
    expectExactlyOnceInOrder(
      delivered,
      written.filter((message) => !rejected.includes(message)),
    );
    expect(server.recorder.maxLive.get('small-queue')).toBe(1);
  });

  it('never reconnects after a deliberate close(), even one made while reconnecting', async () => {
    const server = await startServer();
    const first = observe(server.url('/record?client=deliberate'), { reconnect: policy });
    await first.connection.opened;
    await first.connection.close();
    expect(first.connection.state).toBe('closed');

    // Its retries run on a clock the test steps: nothing can retry unless a timer is pending.
    const clock = new ManualClock();
    const second = observe(server.url('/record?client=deliberate-2'), { reconnect: policy, clock });
    await second.connection.opened;
    await server.stop();
    await until(() => second.connection.state === 'reconnecting', 'the client noticed');
    const queued = second.connection.writeMessage('never sent');
    await second.connection.close();
    expect(second.connection.state).toBe('closed');
    await expect(queued).rejects.toBeInstanceOf(MessageDroppedError);
    expect(second.drops).toEqual(['never sent']);
    expect(() => second.connection.writeMessage('x')).toThrow(WebSocketClosedError);

    await server.start();
    const attemptsAtClose = second.reconnecting.length;
    // No timer is left to retry with, however far the clock moves.
    expect(clock.pending).toBe(0);
    clock.advance(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.recorder.connections.get('deliberate')).toBe(1);
    expect(server.recorder.connections.get('deliberate-2')).toBe(1);
    expect(first.reconnecting).toEqual([]);
    expect(second.reconnecting).toHaveLength(attemptsAtClose);
    expect(first.states).toEqual(['open', 'closing', 'closed']);
    expect(second.states.at(-1)).toBe('closed');
    expect(second.closes).toHaveLength(1);
  });

  it('gives up after maxRetries: closed, a close event, queued writes dropped', async () => {
    const server = await startServer();
    const retryPolicy = { minDelay: 10, maxDelay: 40, factor: 2, jitter: 0.5, maxRetries: 5 };
    const observed = observe(server.url('/record?client=give-up'), { reconnect: retryPolicy });
    const { connection } = observed;
    await connection.opened;
    await server.stop(true);
    await until(() => connection.state === 'reconnecting', 'the client noticed');
    const queued = [connection.writeMessage('q1'), connection.writeMessage({ q: 2 })];
    const reading = connection.readMessage();
    await until(() => connection.state === 'closed', 'it gave up');

    expect(observed.reconnecting.map((event) => event.attempt)).toEqual([0, 1, 2, 3, 4]);
    expectDelaysWithinBounds(observed.reconnecting, retryPolicy);
    expect(observed.closes).toHaveLength(1);
    expect(observed.states).toEqual(['open', 'reconnecting', 'closed']);
    for (const write of queued) await expect(write).rejects.toBeInstanceOf(MessageDroppedError);
    expect(observed.drops).toEqual(['q1', '{"q":2}']);
    expect(await reading).toBeNull();
    expect(() => connection.writeMessage('x')).toThrow(WebSocketClosedError);
  });

  it('retries the first connection too, and rejects opened once retries are exhausted', async () => {
    const port = await freePort();
    const observed = observe(`ws://127.0.0.1:${port}/`, {
      reconnect: { minDelay: 5, maxDelay: 20, maxRetries: 2 },
    });
    await expect(observed.connection.opened).rejects.toBeInstanceOf(ConnectionError);
    expect(observed.connection.state).toBe('closed');
    expect(observed.reconnecting.map((event) => event.attempt)).toEqual([0, 1]);
    expect(observed.states).not.toContain('open');
    expect(observed.closes).toHaveLength(1);
  });

  it('connects once a server that was down at first comes up', async () => {
    const server = new RestartableServer();
    servers.push(server);
    server.port = await freePort();
    const observed = observe(server.url('/record?client=late'), { reconnect: policy });
    observed.connection.writeMessage('hello').catch(() => {});
    await until(() => observed.reconnecting.length >= 2, 'two attempts failed');
    expect(observed.connection.state).toBe('connecting');
    await server.start();
    await observed.connection.opened;
    await until(() => server.recorder.messagesOf('late').length === 1, 'the queued message');
    expect(server.recorder.messagesOf('late')).toEqual(['hello']);
    // The first open is not a reconnection.
    expect(observed.reconnects).toBe(0);
  });

  it('does not retry when shouldReconnect returns false', async () => {
    const server = await startServer();
    const seen: CloseInfo[] = [];
    const clock = new ManualClock();
    const observed = observe(server.url('/bye?client=bye'), {
      clock,
      reconnect: {
        ...policy,
        shouldReconnect: (info) => {
          seen.push(info);
          return false;
        },
      },
    });
    await observed.connection.opened;
    await until(() => observed.connection.state === 'closed', 'closed');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ code: 4001, reason: 'bye' });
    expect(observed.reconnecting).toEqual([]);
    expect(observed.closes).toHaveLength(1);
    expect(observed.closes[0]).toMatchObject({ code: 4001, reason: 'bye' });
    expect(observed.connection.closeCode).toBe(4001);
    // No retry timer was set, however far the clock moves.
    expect(clock.pending).toBe(0);
    clock.advance(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.recorder.connections.get('bye')).toBe(1);
  });

  it('never retries a caller mistake: an invalid option fails opened at once', async () => {
    const server = await startServer();
    const observed = observe(server.url('/bye?client=mistake'), {
      subprotocols: ['not a token'],
      reconnect: policy,
    });
    await expect(observed.connection.opened).rejects.toMatchObject({
      name: 'InvalidArgumentError',
    });
    expect(observed.connection.state).toBe('closed');
    expect(observed.reconnecting).toEqual([]);
  });

  it('retries when shouldReconnect returns true', async () => {
    const server = await startServer();
    const observed = observe(server.url('/bye?client=bye-again'), {
      reconnect: { ...policy, maxRetries: 2, shouldReconnect: (info) => info.code === 4001 },
    });
    await observed.connection.opened;
    await until(() => (server.recorder.connections.get('bye-again') ?? 0) >= 2, 'a reconnection');
    expect(observed.reconnecting[0]?.info).toMatchObject({ code: 4001, reason: 'bye' });
  });

  it('does not retry a handshake refused with 401 by default', async () => {
    const server = await startServer();
    const observed = observe(server.url('/refuse'), { reconnect: policy });
    const error = await observed.connection.opened.then(
      () => null,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).status).toBe(401);
    expect(observed.reconnecting).toEqual([]);
    expect(observed.connection.state).toBe('closed');
  });
});
