import { describe, expect, it } from 'vitest';
import { connectFake, FakeConnector, settle, TimerRecordingClock } from '../test/fake-connector.ts';
import { ClientConnection } from './connection.js';
import {
  AbortError,
  ConnectionError,
  ConnectTimeoutError,
  HandshakeError,
  WebSocketClosedError,
} from './errors.js';

// The connection's life through a fake connector, its timers on a clock the test steps.

describe('the lifecycle', () => {
  it('starts connecting at once, to the URL with the options given', () => {
    const { connector, connection } = connectFake(
      { subprotocols: ['chat'] },
      'ws://gale.test/socket',
    );
    expect(connection.state).toBe('connecting');
    expect(connector.attempts).toHaveLength(1);
    expect(connector.last.url.href).toBe('ws://gale.test/socket');
    expect(connector.last.options.subprotocols).toEqual(['chat']);
  });

  it('goes open → reconnecting → open → closing → closed, one statechange each', async () => {
    const { clock, connector, connection, events } = connectFake({
      reconnect: { minDelay: 100, jitter: 0 },
    });
    const first = connector.last.open();
    await settle();
    first.end(); // lost
    expect(connection.state).toBe('reconnecting');
    clock.advance(100);
    expect(connector.attempts).toHaveLength(2);
    const second = connector.last.open();
    await settle();
    const closed = connection.close(1000, 'done');
    expect(second.calls).toEqual(['close 1000 done']);
    second.end({ code: 1000, reason: 'done', wasClean: true });
    await closed;

    expect(events.states).toEqual(['open', 'reconnecting', 'open', 'closing', 'closed']);
    expect(events.log).toEqual([
      'statechange open',
      'statechange reconnecting',
      'reconnecting',
      'statechange open',
      'reconnect',
      'statechange closing',
      'statechange closed',
      'close',
    ]);
    expect(events.closes).toEqual([{ code: 1000, reason: 'done', wasClean: true }]);
    expect(connection.state).toBe('closed');
  });

  it('resolves opened with the first handshake and reports what the transport agreed', async () => {
    const { connector, connection } = connectFake();
    connector.last.open('chat.v2');
    await expect(connection.opened).resolves.toBeUndefined();
    expect(connection.state).toBe('open');
    expect(connection.selectedSubprotocol).toBe('chat.v2');
  });

  it("keeps the server's close code and reason once its socket ended", async () => {
    const { connector, connection, events } = connectFake();
    connector.last.open().end({ code: 4001, reason: 'bye', wasClean: true });
    await settle();
    expect(connection.closeCode).toBe(4001);
    expect(connection.closeReason).toBe('bye');
    expect(events.states).toEqual(['open', 'closed']);
  });

  it('gives up an attempt after connectTimeout: opened rejects with ConnectTimeoutError', async () => {
    const { clock, connector, connection, events } = connectFake({ connectTimeout: 5000 });
    clock.advance(4999);
    expect(connector.last.signal.aborted).toBe(false);
    clock.advance(1);
    expect(connector.last.signal.aborted).toBe(true);
    const error = await connection.opened.catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(ConnectTimeoutError);
    expect(connection.state).toBe('closed');
    expect(events.closes).toHaveLength(1);
    expect(events.closes[0]?.error).toBe(error);
  });

  it('waits 20 s for an attempt by default, and clears the timer once the attempt ends', async () => {
    const { clock, connector } = connectFake();
    clock.advance(19_999);
    expect(connector.last.signal.aborted).toBe(false);
    clock.advance(1);
    expect(connector.last.signal.aborted).toBe(true);

    const opened = connectFake();
    opened.connector.last.open();
    await settle();
    expect(opened.clock.pending).toBe(0);
  });

  it("keeps a Node process alive while an attempt is pending: the connect timer is not unref'd", () => {
    const clock = new TimerRecordingClock();
    new ClientConnection('ws://gale.test/', { clock }, new FakeConnector().connect);
    expect(clock.timers).toEqual([{ ms: 20_000, isUnref: false }]);
  });

  it('rejects opened with the error of a failed attempt and closes, without reconnect', async () => {
    const { connector, connection, events } = connectFake();
    const refused = new HandshakeError('ERR_HANDSHAKE_STATUS', 'Server responded with 503', 503);
    connector.last.fail(refused);
    await expect(connection.opened).rejects.toBe(refused);
    expect(events.states).toEqual(['closed']);
    expect(events.closes[0]).toMatchObject({ code: 1006, wasClean: false, error: refused });
  });

  it('ends at once when close() comes while connecting: the attempt aborts, opened rejects', async () => {
    const { connector, connection, events } = connectFake();
    const attempt = connector.last;
    await connection.close();
    expect(attempt.signal.aborted).toBe(true);
    await expect(connection.opened).rejects.toBeInstanceOf(WebSocketClosedError);
    expect(events.states).toEqual(['closed']);
    expect(events.closes).toEqual([{ code: 1005, reason: '', wasClean: true }]);
  });

  it('rejects opened with AbortError when the signal aborts while connecting', async () => {
    const controller = new AbortController();
    const { connector, connection } = connectFake({ signal: controller.signal });
    controller.abort('page left');
    expect(connector.last.signal.aborted).toBe(true);
    const error = await connection.opened.catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).cause).toBe('page left');
    expect(connection.state).toBe('closed');
  });

  it('closes an open connection when the signal aborts', async () => {
    const controller = new AbortController();
    const { connector, connection } = connectFake({ signal: controller.signal });
    const transport = connector.last.open();
    await settle();
    controller.abort();
    expect(connection.state).toBe('closing');
    expect(transport.calls).toEqual(['close undefined ']);
  });

  it('reports a socket that ended before it was adopted, after adopting it', async () => {
    const { connector, events } = connectFake();
    const transport = connector.last.open();
    // The socket dies between the handshake and the connection taking it over.
    transport.end({ code: 1006, reason: '', wasClean: false, error: new ConnectionError('gone') });
    await settle();
    expect(events.states).toEqual(['open', 'closed']);
    expect(events.closes[0]?.error).toBeInstanceOf(ConnectionError);
  });
});
