import { afterEach, describe, expect, it, vi } from 'vitest';
import { connectFake, FakeTransport, settle } from '../test/fake-connector.ts';
import { InvalidStateError } from './errors.js';
import { Inbox } from './inbox.js';
import type { Message } from './options.js';

function attached(readQueueSize: number, onMessage?: (message: Message) => void | Promise<void>) {
  const inbox = new Inbox(readQueueSize, onMessage);
  const transport = new FakeTransport();
  inbox.attach(transport);
  return { inbox, transport };
}

/** A promise the test settles. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Inbox', () => {
  it('pauses the transport once readQueueSize messages are unread, and resumes below it', async () => {
    const { inbox, transport } = attached(3);
    inbox.deliver('a');
    inbox.deliver('b');
    expect(transport.calls).toEqual([]);
    inbox.deliver('c');
    expect(transport.calls).toEqual(['pause']);
    inbox.deliver('d'); // already paused: what is in flight still queues
    expect(transport.calls).toEqual(['pause']);
    expect(await inbox.read()).toBe('a');
    expect(transport.calls).toEqual(['pause']); // 3 unread: still at the limit
    expect(await inbox.read()).toBe('b');
    expect(transport.calls).toEqual(['pause', 'resume']);
    expect(await inbox.read()).toBe('c');
    expect(await inbox.read()).toBe('d');
    expect(transport.calls).toEqual(['pause', 'resume']);
  });

  it('gives a waiting reader the next message without queueing it', async () => {
    const { inbox, transport } = attached(1);
    const reads = [inbox.read(), inbox.read()];
    inbox.deliver('a');
    inbox.deliver('b');
    expect(await Promise.all(reads)).toEqual(['a', 'b']);
    expect(inbox.size).toBe(0);
    expect(transport.calls).toEqual([]);
  });

  it('pauses the next transport at once while reading is paused', () => {
    const { inbox, transport } = attached(1);
    inbox.deliver('a');
    inbox.detach();
    const next = new FakeTransport();
    inbox.attach(next);
    expect(transport.calls).toEqual(['pause']);
    expect(next.calls).toEqual(['pause']);
  });

  it('after keepReading(), resumes now and never pauses again, still queueing what arrives', async () => {
    const { inbox, transport } = attached(1);
    inbox.deliver('a');
    inbox.keepReading();
    inbox.deliver('b');
    inbox.deliver('c');
    expect(transport.calls).toEqual(['pause', 'resume']);
    expect(await inbox.read()).toBe('a');
    expect(await inbox.read()).toBe('b');
    expect(await inbox.read()).toBe('c');
  });

  it('once ended, gives waiting readers null, and later reads the rest of the queue, then null', async () => {
    const waiting = attached(4);
    const read = waiting.inbox.read();
    waiting.inbox.end();
    expect(await read).toBeNull();

    const { inbox } = attached(4);
    inbox.deliver('a');
    inbox.end();
    expect(await inbox.read()).toBe('a');
    expect(await inbox.read()).toBeNull();
  });

  it('runs onMessage for each message in order; an async one holds back the next and pauses reading', async () => {
    const seen: Message[] = [];
    const slow = deferred();
    const { inbox, transport } = attached(16, (message) => {
      seen.push(message);
      return message === 'slow' ? slow.promise : undefined;
    });
    inbox.deliver('a');
    inbox.deliver('slow');
    inbox.deliver('b');
    inbox.deliver('c');
    expect(seen).toEqual(['a', 'slow']);
    expect(transport.isPaused).toBe(true);
    slow.resolve();
    await settle();
    expect(seen).toEqual(['a', 'slow', 'b', 'c']);
    expect(transport.calls).toEqual(['pause', 'resume']);
    expect(() => inbox.read()).toThrow(InvalidStateError);
  });

  it('reports an onMessage that throws or rejects, and goes on with the next message', async () => {
    const reported = vi.spyOn(console, 'error').mockImplementation(() => {});
    const seen: Message[] = [];
    const failing = deferred();
    const { inbox } = attached(16, (message) => {
      seen.push(message);
      if (message === 'throws') throw new Error('thrown');
      if (message === 'rejects') return failing.promise;
      return undefined;
    });
    inbox.deliver('throws');
    inbox.deliver('rejects');
    inbox.deliver('after');
    failing.reject(new Error('rejected'));
    await settle();
    expect(seen).toEqual(['throws', 'rejects', 'after']);
    expect(reported.mock.calls.map((call) => (call[1] as Error).message)).toEqual([
      'thrown',
      'rejected',
    ]);
  });
});

describe("a connection's reading", () => {
  it('pauses the transport at readQueueSize unread messages and resumes it as they are read', async () => {
    const { connector, connection } = connectFake({ readQueueSize: 2 });
    const transport = connector.last.open();
    await settle();
    transport.receive('a');
    expect(transport.isPaused).toBe(false);
    transport.receive('b');
    expect(transport.isPaused).toBe(true);
    expect(await connection.readMessage()).toBe('a');
    expect(transport.isPaused).toBe(false);
    expect(await connection.readMessage()).toBe('b');
    expect(transport.calls).toEqual(['pause', 'resume']);
  });

  it('pauses at 16 unread messages by default', async () => {
    const { connector } = connectFake();
    const transport = connector.last.open();
    await settle();
    for (let i = 0; i < 15; i++) transport.receive(String(i));
    expect(transport.isPaused).toBe(false);
    transport.receive('15');
    expect(transport.isPaused).toBe(true);
  });

  it('resumes a paused transport on close(), so that the Close frame gets through, and keeps what arrives', async () => {
    const { connector, connection } = connectFake({ readQueueSize: 1 });
    const transport = connector.last.open();
    await settle();
    transport.receive('a');
    const closed = connection.close();
    expect(transport.calls).toEqual(['pause', 'close undefined ', 'resume']);
    transport.receive('b');
    transport.end({ code: 1000, reason: '', wasClean: true });
    await closed;
    const messages: Message[] = [];
    for await (const message of connection) messages.push(message);
    expect(messages).toEqual(['a', 'b']);
    expect(transport.calls).toEqual(['pause', 'close undefined ', 'resume']);
  });

  it('pauses the new transport after a reconnection while the queue is still full', async () => {
    const { clock, connector, connection } = connectFake({
      readQueueSize: 1,
      reconnect: { minDelay: 10, jitter: 0 },
    });
    const first = connector.last.open();
    await settle();
    first.receive('a');
    first.end();
    clock.advance(10);
    const next = connector.last.open();
    await settle();
    expect(next.calls).toEqual(['pause']);
    expect(await connection.readMessage()).toBe('a');
    expect(next.calls).toEqual(['pause', 'resume']);
  });

  it('refuses readMessage() with InvalidStateError when onMessage is set', () => {
    const { connection } = connectFake({ onMessage: () => {} });
    expect(() => connection.readMessage()).toThrow(InvalidStateError);
  });
});
