import { ManualClock } from '@gale/test-utils';
import { describe, expect, it } from 'vitest';
import { connectFake, FakeTransport, settle, TimerRecordingClock } from '../test/fake-connector.ts';
import { ConnectionError, InvalidArgumentError } from './errors.js';
import { Heartbeat } from './heartbeat.js';

function beating(options: { interval: number; timeout: number; message?: string | Uint8Array }) {
  const clock = new ManualClock();
  const heartbeat = new Heartbeat(options, clock);
  const transport = new FakeTransport();
  let isOpen = true;
  heartbeat.start(transport, () => isOpen);
  return {
    clock,
    heartbeat,
    transport,
    close: () => {
      isOpen = false;
    },
  };
}

describe('Heartbeat', () => {
  it('sends its message every interval, fire and forget', () => {
    const { clock, heartbeat, transport } = beating({ interval: 1000, timeout: 5000 });
    clock.advance(999);
    expect(transport.sent).toEqual([]);
    clock.advance(1);
    expect(transport.sent).toEqual([{ data: '{"type":"ping"}', binary: false, track: false }]);
    heartbeat.received();
    clock.advance(2000);
    expect(transport.sent).toHaveLength(3);
  });

  it('sends a binary message as binary', () => {
    const message = new Uint8Array([0x70]);
    const { clock, transport } = beating({ interval: 10, timeout: 50, message });
    clock.advance(10);
    expect(transport.sent).toEqual([{ data: message, binary: true, track: false }]);
  });

  it('drops the transport when nothing arrives within timeout after a heartbeat', () => {
    const { clock, transport } = beating({ interval: 1000, timeout: 300 });
    clock.advance(1000 + 299);
    expect(transport.calls).toEqual([]);
    clock.advance(1);
    expect(transport.calls).toEqual(['abort heartbeat timed out']);
  });

  it('runs one deadline from the first unanswered heartbeat, however many follow', () => {
    const { clock, transport } = beating({ interval: 100, timeout: 250 });
    clock.advance(100 + 249);
    expect(transport.sent).toHaveLength(3);
    expect(transport.calls).toEqual([]);
    clock.advance(1);
    expect(transport.calls).toEqual(['abort heartbeat timed out']);
  });

  it('lifts that one deadline with the first answer, however many heartbeats it answers', () => {
    const { clock, heartbeat, transport } = beating({ interval: 100, timeout: 250 });
    clock.advance(320); // heartbeats at 100, 200 and 300
    heartbeat.received();
    clock.advance(300); // the next at 400, 500 and 600: its deadline is 650
    expect(transport.calls).toEqual([]);
  });

  it("never keeps a Node process alive: both timers are unref'd", () => {
    const clock = new TimerRecordingClock();
    const heartbeat = new Heartbeat({ interval: 100, timeout: 250 }, clock);
    heartbeat.start(new FakeTransport(), () => true);
    clock.advance(100);
    expect(clock.timers).toEqual([
      { ms: 100, isUnref: true },
      { ms: 100, isUnref: true },
      { ms: 250, isUnref: true },
    ]);
  });

  it('lifts the deadline for anything that arrives', () => {
    const { clock, heartbeat, transport } = beating({ interval: 1000, timeout: 300 });
    clock.advance(1000);
    for (let i = 0; i < 5; i++) {
      // An answer 299 ms after each heartbeat, just within the timeout; the next goes out 701 ms later.
      clock.advance(299);
      heartbeat.received();
      clock.advance(701);
    }
    expect(transport.sent).toHaveLength(6);
    expect(transport.calls).toEqual([]);
  });

  it('sends nothing while the connection is not open, and stop() ends both timers', () => {
    const { clock, heartbeat, transport, close } = beating({ interval: 100, timeout: 1000 });
    clock.advance(100);
    close();
    clock.advance(500);
    expect(transport.sent).toHaveLength(1);
    heartbeat.stop();
    expect(clock.pending).toBe(0);
    clock.advance(10_000);
    expect(transport.calls).toEqual([]);
  });
});

describe("a connection's heartbeat", () => {
  it('drops a socket whose server stops answering, then reconnects', async () => {
    const { clock, connector, connection, events } = connectFake({
      heartbeat: { interval: 1000, timeout: 500, message: 'ping' },
      reconnect: { minDelay: 100, jitter: 0 },
    });
    const transport = connector.last.open();
    await settle();
    clock.advance(1000);
    expect(transport.sentData).toEqual(['ping']);
    transport.receive('pong'); // answered
    clock.advance(1000 + 499);
    expect(transport.calls).toEqual([]);
    clock.advance(1); // the second went unanswered for 500 ms
    expect(transport.calls).toEqual(['abort heartbeat timed out']);
    await settle();
    expect(connection.state).toBe('reconnecting');
    expect(events.reconnecting[0]?.info.error).toBeInstanceOf(ConnectionError);
    expect(await connection.readMessage()).toBe('pong');

    clock.advance(100);
    const next = connector.last.open();
    await settle();
    clock.advance(1000);
    expect(next.sentData).toEqual(['ping']);
  });

  it('leaves no timer behind once closed', async () => {
    const { clock, connector, connection } = connectFake({
      heartbeat: { interval: 1000, timeout: 500 },
    });
    const transport = connector.last.open();
    await settle();
    clock.advance(1000);
    const closed = connection.close();
    transport.end({ code: 1000, reason: '', wasClean: true });
    await closed;
    expect(clock.pending).toBe(0);
  });

  it('refuses an interval or timeout that is not positive', () => {
    expect(() => connectFake({ heartbeat: { interval: 0, timeout: 10 } })).toThrow(
      InvalidArgumentError,
    );
    expect(() => connectFake({ heartbeat: { interval: 10, timeout: -1 } })).toThrow(
      InvalidArgumentError,
    );
  });
});
