import { ManualClock } from '@gale/test-utils';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { connectFake, settle, TimerRecordingClock } from '../test/fake-connector.ts';
import { backoffCap } from './backoff.js';
import type { ClientConnection } from './connection.js';
import {
  ConnectionError,
  HandshakeError,
  InvalidArgumentError,
  MessageDroppedError,
  WebSocketClosedError,
} from './errors.js';
import type { CloseInfo, ReconnectOptions } from './options.js';
import { Reconnection, type RetryDecision } from './reconnection.js';

const lost: CloseInfo = { code: 1006, reason: '', wasClean: false };

function refused(status: number): CloseInfo {
  const error = new HandshakeError(
    'ERR_HANDSHAKE_STATUS',
    `Server responded with ${status}`,
    status,
  );
  return { code: 1006, reason: '', wasClean: false, error };
}

/** A `random` that returns `values` in turn. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

function retried(decision: RetryDecision): { attempt: number; delay: number } {
  if (!decision.retry) throw new Error(`expected a retry, got ${JSON.stringify(decision)}`);
  return { attempt: decision.attempt, delay: decision.delay };
}

describe('Reconnection', () => {
  const policy: ReconnectOptions = { minDelay: 100, maxDelay: 1000, factor: 2, jitter: 0.5 };

  it('never retries when reconnect is off', () => {
    for (const option of [undefined, false] as const) {
      const reconnection = new Reconnection(option, new ManualClock());
      expect(reconnection.next(lost)).toEqual({ retry: false, dropReason: undefined });
    }
  });

  it('draws retry n from [cap × (1 − jitter), cap], the cap growing by factor up to maxDelay', () => {
    // random() 0 gives the low bound, a random() just below 1 the cap.
    const low = new Reconnection(policy, new ManualClock(), () => 0);
    const high = new Reconnection(policy, new ManualClock(), () => 1 - 2 ** -53);
    const caps = [100, 200, 400, 800, 1000, 1000];
    for (const [attempt, cap] of caps.entries()) {
      expect(retried(low.next(lost))).toEqual({ attempt, delay: cap / 2 });
      const { delay } = retried(high.next(lost));
      expect(delay).toBeLessThanOrEqual(cap);
      expect(delay).toBeCloseTo(cap, 6);
    }
  });

  it('draws every delay within the bounds with the default random, full jitter by default', () => {
    const reconnection = new Reconnection(true, new ManualClock());
    for (let attempt = 0; attempt < 12; attempt++) {
      const decision = retried(reconnection.next(lost));
      expect(decision.attempt).toBe(attempt);
      expect(decision.delay).toBeGreaterThanOrEqual(0);
      expect(decision.delay).toBeLessThanOrEqual(backoffCap(attempt));
    }
  });

  it('by default retries anything but a handshake refused with a 4xx other than 408 and 429', () => {
    const reconnection = new Reconnection(true, new ManualClock(), () => 0);
    for (const status of [400, 401, 403, 404, 410, 426, 499]) {
      expect(reconnection.next(refused(status)).retry, String(status)).toBe(false);
    }
    for (const status of [200, 301, 408, 429, 500, 502, 503]) {
      expect(reconnection.next(refused(status)).retry, String(status)).toBe(true);
    }
    expect(reconnection.next(lost).retry).toBe(true);
    expect(reconnection.next({ code: 1001, reason: 'going away', wasClean: true }).retry).toBe(
      true,
    );
    const error = new ConnectionError('refused');
    expect(reconnection.next({ ...lost, error }).retry).toBe(true);
  });

  it('asks shouldReconnect instead of the default rule, with how the socket ended', () => {
    const seen: CloseInfo[] = [];
    const reconnection = new Reconnection(
      {
        shouldReconnect: (info) => {
          seen.push(info);
          return info.code === 4001;
        },
      },
      new ManualClock(),
    );
    const bye = { code: 4001, reason: 'bye', wasClean: true };
    expect(reconnection.next(bye).retry).toBe(true);
    expect(reconnection.next({ ...bye, code: 4002 })).toEqual({
      retry: false,
      dropReason: undefined,
    });
    // A 401 is retried when shouldReconnect says so.
    expect(
      new Reconnection({ shouldReconnect: () => true }, new ManualClock()).next(refused(401)),
    ).toMatchObject({ retry: true });
    expect(seen).toEqual([bye, { ...bye, code: 4002 }]);
  });

  it('never retries a caller mistake, whatever shouldReconnect says', () => {
    const reconnection = new Reconnection({ shouldReconnect: () => true }, new ManualClock());
    const error = new InvalidArgumentError('The headers option is not supported in browsers');
    expect(reconnection.next({ ...lost, error }).retry).toBe(false);
  });

  it('gives up after maxRetries retries in a row, and starts over after reset()', () => {
    const reconnection = new Reconnection({ maxRetries: 2 }, new ManualClock());
    expect(retried(reconnection.next(lost)).attempt).toBe(0);
    expect(retried(reconnection.next(lost)).attempt).toBe(1);
    expect(reconnection.next(lost)).toEqual({
      retry: false,
      dropReason: 'reconnection gave up after 2 attempts',
    });
    reconnection.reset();
    expect(retried(reconnection.next(lost)).attempt).toBe(0);
    expect(new Reconnection({ maxRetries: 0 }, new ManualClock()).next(lost).retry).toBe(false);
  });

  it('retries a 1012 (Service Restart) after [0, 1000] ms of jitter instead of the backoff, without counting it', () => {
    const restart: CloseInfo = { code: 1012, reason: 'redeploying', wasClean: true };
    const policy = { minDelay: 5000, maxDelay: 60_000, jitter: 0 };
    const low = new Reconnection(policy, new ManualClock(), () => 0);
    const high = new Reconnection(policy, new ManualClock(), () => 1 - 2 ** -53);
    expect(retried(low.next(restart))).toEqual({ attempt: 0, delay: 0 });
    expect(retried(high.next(restart)).delay).toBeCloseTo(1000, 6);
    expect(retried(high.next(restart)).delay).toBeLessThanOrEqual(1000);

    // Two ordinary failures, a 1012, then the backoff goes on from where it was.
    const reconnection = new Reconnection(policy, new ManualClock(), () => 0.5);
    expect(retried(reconnection.next(lost))).toEqual({ attempt: 0, delay: 5000 });
    expect(retried(reconnection.next(lost))).toEqual({ attempt: 1, delay: 10_000 });
    expect(retried(reconnection.next(restart))).toEqual({ attempt: 2, delay: 500 });
    expect(retried(reconnection.next(lost))).toEqual({ attempt: 2, delay: 20_000 });
    // Not a failed attempt: maxRetries does not stop it.
    expect(new Reconnection({ maxRetries: 0 }, new ManualClock()).next(restart).retry).toBe(true);
  });

  it('asks shouldReconnect about a 1012 too, and never retries one with reconnection off', () => {
    const restart: CloseInfo = { code: 1012, reason: '', wasClean: true };
    expect(
      new Reconnection({ shouldReconnect: () => false }, new ManualClock()).next(restart),
    ).toEqual({ retry: false, dropReason: undefined });
    expect(new Reconnection(false, new ManualClock()).next(restart).retry).toBe(false);
    expect(new Reconnection({}, new ManualClock()).next(restart).retry).toBe(true);
  });

  it('refuses a policy that makes no sense with InvalidArgumentError', () => {
    const clock = new ManualClock();
    expect(() => new Reconnection({ minDelay: -1 }, clock)).toThrow(InvalidArgumentError);
    expect(() => new Reconnection({ jitter: 2 }, clock)).toThrow(InvalidArgumentError);
    expect(() => new Reconnection({ factor: 0.5 }, clock)).toThrow(InvalidArgumentError);
  });

  it("keeps a Node process alive while it waits: its timer is not unref'd", () => {
    const clock = new TimerRecordingClock();
    new Reconnection(true, clock).schedule(250, () => {});
    expect(clock.timers).toEqual([{ ms: 250, isUnref: false }]);
  });

  it('calls back after the delay on its clock, unless cancelled', () => {
    const clock = new ManualClock();
    const reconnection = new Reconnection(true, clock);
    let retries = 0;
    reconnection.schedule(250, () => retries++);
    clock.advance(249);
    expect(retries).toBe(0);
    clock.advance(1);
    expect(retries).toBe(1);

    reconnection.schedule(250, () => retries++);
    reconnection.cancel();
    clock.advance(1000);
    expect(retries).toBe(1);
    expect(clock.pending).toBe(0);
  });
});

describe('a connection with reconnect', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('waits each drawn delay on its clock before the next attempt, the attempts counting from 0', async () => {
    // The jitter draws: the low bound, the middle, the cap.
    vi.spyOn(Math, 'random').mockImplementation(sequence(0, 0.5, 1 - 2 ** -53));
    const { clock, connector, connection, events } = connectFake({
      reconnect: { minDelay: 100, maxDelay: 1000, factor: 2, jitter: 0.5 },
    });
    connector.last.open();
    await settle();
    connector.last.transport!.end();
    const expected = [50, 150, 400];
    for (const [attempt, delay] of expected.entries()) {
      expect(events.reconnecting[attempt]).toMatchObject({ attempt, info: { code: 1006 } });
      expect(events.reconnecting[attempt]!.delay).toBeCloseTo(delay, 6);
      const attempts = connector.attempts.length;
      clock.advance(events.reconnecting[attempt]!.delay - 1);
      expect(connector.attempts).toHaveLength(attempts);
      clock.advance(1);
      expect(connector.attempts).toHaveLength(attempts + 1);
      connector.last.fail(new ConnectionError('refused'));
      await settle();
    }
    expect(events.reconnecting.map((event) => event.attempt)).toEqual([0, 1, 2, 3]);
    expect(events.reconnecting[1]?.info.error).toBeInstanceOf(ConnectionError);
    expect(connection.state).toBe('reconnecting');
  });

  it('reconnects within [0, 1000] ms on its clock after a 1012, then backs off from attempt 0 if that fails', async () => {
    const { clock, connector, connection, events } = connectFake({
      reconnect: { minDelay: 4000, maxDelay: 60_000 },
    });
    connector.last.open();
    await settle();
    connector.last.transport!.end({ code: 1012, reason: 'redeploying', wasClean: true });
    expect(connection.state).toBe('reconnecting');
    const restart = events.reconnecting[0]!;
    expect(restart).toMatchObject({ attempt: 0, info: { code: 1012, reason: 'redeploying' } });
    expect(restart.delay).toBeGreaterThanOrEqual(0);
    expect(restart.delay).toBeLessThanOrEqual(1000);
    expect(connector.attempts).toHaveLength(1);
    clock.advance(1000);
    expect(connector.attempts).toHaveLength(2);

    // The server is not back yet: an ordinary failure, backing off from retry 0.
    connector.last.fail(new ConnectionError('refused'));
    await settle();
    expect(events.reconnecting[1]).toMatchObject({ attempt: 0, info: { code: 1006 } });
    expect(events.reconnecting[1]!.delay).toBeLessThanOrEqual(4000);
    clock.advance(4000);
    connector.last.fail(new ConnectionError('refused'));
    await settle();
    expect(events.reconnecting[2]).toMatchObject({ attempt: 1 });
  });

  it('starts again from attempt 0 after each successful reconnection', async () => {
    const { clock, connector, events } = connectFake({ reconnect: { minDelay: 10, jitter: 0 } });
    connector.last.open();
    await settle();
    for (let loss = 0; loss < 3; loss++) {
      connector.last.transport!.end();
      clock.advance(10);
      connector.last.fail(new ConnectionError('refused'));
      await settle();
      clock.advance(20);
      connector.last.open();
      await settle();
    }
    expect(events.reconnecting.map((event) => [event.attempt, event.delay])).toEqual([
      [0, 10],
      [1, 20],
      [0, 10],
      [1, 20],
      [0, 10],
      [1, 20],
    ]);
    expect(events.reconnects).toBe(3);
  });

  it('does not retry a handshake refused with 401 by default', async () => {
    const { connector, connection, events } = connectFake({ reconnect: true });
    connector.last.fail(refused(401).error!);
    await expect(connection.opened).rejects.toBeInstanceOf(HandshakeError);
    expect(events.reconnecting).toEqual([]);
    expect(events.states).toEqual(['closed']);
  });

  it('retries a handshake refused with 503, or with 429, by default', async () => {
    for (const status of [503, 429]) {
      const { clock, connector, connection, events } = connectFake({
        reconnect: { minDelay: 10, jitter: 0 },
      });
      connector.last.fail(refused(status).error!);
      await settle();
      expect(events.reconnecting).toHaveLength(1);
      expect(connection.state).toBe('connecting');
      clock.advance(10);
      connector.last.open();
      await expect(connection.opened).resolves.toBeUndefined();
    }
  });

  it('follows shouldReconnect: a lost socket it refuses closes the connection', async () => {
    const { connector, connection, events } = connectFake({
      reconnect: { shouldReconnect: (info) => info.code !== 4001 },
    });
    connector.last.open();
    await settle();
    connector.last.transport!.end({ code: 4001, reason: 'bye', wasClean: true });
    expect(connection.state).toBe('closed');
    expect(events.reconnecting).toEqual([]);
    expect(events.closes).toEqual([{ code: 4001, reason: 'bye', wasClean: true }]);
  });

  it('gives up after maxRetries: closed, opened rejected, queued writes dropped and reported', async () => {
    const { clock, connector, connection, events } = connectFake({
      reconnect: { minDelay: 10, jitter: 0, maxRetries: 2 },
    });
    const queued = [connection.writeMessage('q1'), connection.writeMessage({ q: 2 })];
    const reading = connection.readMessage();
    const failure = new ConnectionError('refused');
    connector.last.fail(failure);
    await settle();
    clock.advance(10);
    connector.last.fail(failure);
    await settle();
    clock.advance(20);
    connector.last.fail(failure);
    await settle();

    expect(connector.attempts).toHaveLength(3);
    expect(events.reconnecting.map((event) => event.attempt)).toEqual([0, 1]);
    expect(events.states).toEqual(['closed']);
    await expect(connection.opened).rejects.toBe(failure);
    for (const write of queued) {
      const error = await write.catch((reason: unknown) => reason);
      expect(error).toBeInstanceOf(MessageDroppedError);
      expect((error as Error).message).toBe(
        'Message dropped: never sent: reconnection gave up after 2 attempts',
      );
      expect((error as Error).cause).toBe(failure);
    }
    expect(events.drops.map((error) => error.data)).toEqual(['q1', '{"q":2}']);
    expect(await reading).toBeNull();
    clock.advance(60_000);
    expect(connector.attempts).toHaveLength(3);
  });

  it('sends what onReconnect writes ahead of the messages queued while disconnected', async () => {
    const hooked: ClientConnection[] = [];
    const { clock, connector, connection, events } = connectFake({
      reconnect: { minDelay: 10, jitter: 0 },
      onReconnect: (reconnected) => {
        hooked.push(reconnected);
        void reconnected.writeMessage('subscribe');
      },
    });
    connector.last.open();
    await settle();
    expect(hooked).toEqual([]); // the first open is no reconnection
    connector.last.transport!.end();
    const queued = [connection.writeMessage('q1'), connection.writeMessage('q2')];
    clock.advance(10);
    const transport = connector.last.open();
    await settle();
    await Promise.all(queued);
    expect(transport.sentData).toEqual(['subscribe', 'q1', 'q2']);
    expect(hooked).toEqual([connection]);
    expect(events.reconnects).toBe(1);
  });

  it('never reconnects after close() during the backoff, and drops what was queued', async () => {
    const { clock, connector, connection, events } = connectFake({
      reconnect: { minDelay: 100, jitter: 0 },
    });
    connector.last.open();
    await settle();
    connector.last.transport!.end();
    expect(connection.state).toBe('reconnecting');
    const queued = connection.writeMessage('never sent');
    await connection.close();

    expect(connection.state).toBe('closed');
    await expect(queued).rejects.toBeInstanceOf(MessageDroppedError);
    expect(events.drops.map((error) => error.message)).toEqual([
      'Message dropped: never sent: close() was called',
    ]);
    expect(() => connection.writeMessage('x')).toThrow(WebSocketClosedError);
    clock.advance(60_000);
    expect(connector.attempts).toHaveLength(1);
    expect(clock.pending).toBe(0);
    expect(events.states).toEqual(['open', 'reconnecting', 'closed']);
    expect(events.closes).toHaveLength(1);
  });

  it('never reconnects once a reconnecting listener called close()', async () => {
    const { clock, connector, connection, events } = connectFake({ reconnect: { minDelay: 10 } });
    connection.addEventListener('reconnecting', () => void connection.close());
    connector.last.open();
    await settle();
    connector.last.transport!.end();
    clock.advance(60_000);
    expect(connector.attempts).toHaveLength(1);
    expect(events.states).toEqual(['open', 'reconnecting', 'closed']);
  });

  it('never has two sockets: a close() during an attempt aborts it', async () => {
    const { clock, connector, connection } = connectFake({
      reconnect: { minDelay: 10, jitter: 0 },
    });
    connector.last.open();
    await settle();
    connector.last.transport!.end();
    clock.advance(10);
    const attempt = connector.last;
    await connection.close();
    expect(attempt.signal.aborted).toBe(true);
    expect(attempt.signal.reason).toBeInstanceOf(WebSocketClosedError);
    expect(connector.attempts).toHaveLength(2);
  });
});
