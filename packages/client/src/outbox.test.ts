import { describe, expect, it } from 'vitest';
import { connectFake, FakeTransport, settle } from '../test/fake-connector.ts';
import { ConnectionError, MessageDroppedError, WebSocketClosedError } from './errors.js';
import { Outbox } from './outbox.js';

function outbox(sendQueueSize: number) {
  const drops: MessageDroppedError[] = [];
  return { outbox: new Outbox(sendQueueSize, (error) => drops.push(error)), drops };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('Outbox', () => {
  it('refuses a message beyond sendQueueSize at once: a MessageDroppedError, reported', async () => {
    const { outbox: queue, drops } = outbox(2);
    const kept = [queue.enqueue('a', false), queue.enqueue('b', false)];
    const beyond = queue.enqueue('c', false);
    const error = await rejection(beyond);
    expect(error).toBeInstanceOf(MessageDroppedError);
    expect((error as MessageDroppedError).data).toBe('c');
    expect((error as Error).message).toBe(
      'Message dropped: the send queue is full (sendQueueSize 2)',
    );
    expect(drops).toEqual([error]);

    const transport = new FakeTransport();
    queue.flush(transport, () => true);
    await Promise.all(kept);
    expect(transport.sentData).toEqual(['a', 'b']);
  });

  it('sends the queue in order with promises, binary flags kept, and is empty after', async () => {
    const { outbox: queue } = outbox(8);
    const bytes = new Uint8Array([1, 2]);
    const writes = [queue.enqueue('a', false), queue.enqueue(bytes, true)];
    expect(queue.isEmpty).toBe(false);
    const transport = new FakeTransport();
    queue.flush(transport, () => true);
    expect(queue.isEmpty).toBe(true);
    expect(transport.sent).toEqual([
      { data: 'a', binary: false, track: true },
      { data: bytes, binary: true, track: true },
    ]);
    await expect(Promise.all(writes)).resolves.toEqual([undefined, undefined]);
  });

  it('sends what beforeQueue writes ahead of the queue', () => {
    const { outbox: queue } = outbox(8);
    void queue.enqueue('queued 1', false);
    void queue.enqueue('queued 2', false);
    const transport = new FakeTransport();
    queue.flush(
      transport,
      () => true,
      () => {
        // The queue is set aside: a write finds it empty and goes straight out.
        expect(queue.isEmpty).toBe(true);
        transport.send('first', false, false);
        // One that is queued all the same follows the older ones.
        void queue.enqueue('queued 3', false);
      },
    );
    expect(transport.sentData).toEqual(['first', 'queued 1', 'queued 2', 'queued 3']);
  });

  it('keeps the rest in order when the transport goes away during the flush', () => {
    const { outbox: queue } = outbox(8);
    for (const message of ['a', 'b', 'c']) void queue.enqueue(message, false);
    const transport = new FakeTransport();
    let open = 2;
    queue.flush(transport, () => open-- > 0);
    expect(transport.sentData).toEqual(['a', 'b']);
    const next = new FakeTransport();
    queue.flush(next, () => true);
    expect(next.sentData).toEqual(['c']);
  });

  it('rejects a flushed write whose bytes never left with the transport’s error', async () => {
    const { outbox: queue } = outbox(8);
    const write = queue.enqueue('a', false);
    const transport = new FakeTransport();
    transport.end();
    queue.flush(transport, () => true);
    await expect(write).rejects.toBeInstanceOf(WebSocketClosedError);
  });

  it('drops every queued message with dropAll(), each reported with its data and cause', async () => {
    const { outbox: queue, drops } = outbox(8);
    const writes = [queue.enqueue('a', false), queue.enqueue('b', false)];
    const cause = new ConnectionError('refused');
    queue.dropAll('the connection closed', cause);
    for (const write of writes) await expect(write).rejects.toBeInstanceOf(MessageDroppedError);
    expect(drops.map((error) => [error.data, error.message, error.cause])).toEqual([
      ['a', 'Message dropped: never sent: the connection closed', cause],
      ['b', 'Message dropped: never sent: the connection closed', cause],
    ]);
    expect(queue.isEmpty).toBe(true);
  });
});

describe("a connection's writes while disconnected", () => {
  it('queues writes until open, sends them in order, then writes go straight out', async () => {
    const { connector, connection } = connectFake();
    const queued = [connection.writeMessage('a'), connection.writeMessage({ b: 2 })];
    connection.send('c');
    const transport = connector.last.open();
    await settle();
    await Promise.all(queued);
    await connection.writeMessage('d');
    expect(transport.sent).toEqual([
      { data: 'a', binary: false, track: true },
      { data: '{"b":2}', binary: false, track: true },
      { data: 'c', binary: false, track: true },
      { data: 'd', binary: false, track: true },
    ]);
    connection.send('e');
    expect(transport.sent.at(-1)).toEqual({ data: 'e', binary: false, track: false });
  });

  it('sends a write made as the state turns open after the writes queued before it', async () => {
    const { connector, connection } = connectFake();
    connection.addEventListener('statechange', (event) => {
      if (event.state === 'open') void connection.writeMessage('from a listener');
    });
    void connection.writeMessage('queued');
    const transport = connector.last.open();
    await settle();
    expect(transport.sentData).toEqual(['queued', 'from a listener']);
  });

  it('drops a write beyond sendQueueSize with a drop event and a rejected promise, and sends the rest', async () => {
    const { connector, connection, events } = connectFake({ sendQueueSize: 2 });
    const kept = [connection.writeMessage('a'), connection.writeMessage('b')];
    const beyond = connection.writeMessage('c');
    connection.send('d'); // fire and forget: reported by the event alone
    const error = await rejection(beyond);
    expect(error).toBeInstanceOf(MessageDroppedError);
    expect(events.drops).toEqual([error, expect.any(MessageDroppedError)]);
    expect(events.drops.map((drop) => drop.data)).toEqual(['c', 'd']);

    const transport = connector.last.open();
    await settle();
    await Promise.all(kept);
    expect(transport.sentData).toEqual(['a', 'b']);
  });

  it('with sendQueueSize 0, drops every write made while disconnected', async () => {
    const { connection, events } = connectFake({ sendQueueSize: 0 });
    await expect(connection.writeMessage('a')).rejects.toBeInstanceOf(MessageDroppedError);
    expect(events.drops.map((drop) => drop.data)).toEqual(['a']);
  });

  it('drops what is still queued when close() is called, with a drop event each', async () => {
    const { connection, events } = connectFake();
    const writes = [connection.writeMessage('a'), connection.writeMessage('b')];
    await connection.close();
    for (const write of writes) await expect(write).rejects.toBeInstanceOf(MessageDroppedError);
    expect(events.drops.map((drop) => [drop.data, drop.message])).toEqual([
      ['a', 'Message dropped: never sent: close() was called'],
      ['b', 'Message dropped: never sent: close() was called'],
    ]);
    // The drops come once closed, before the close event.
    expect(events.log).toEqual(['statechange closed', 'drop', 'drop', 'close']);
  });

  it('drops what is queued when the first attempt fails without reconnect, with its error as the cause', async () => {
    const { connector, connection, events } = connectFake();
    const write = connection.writeMessage('a');
    const failure = new ConnectionError('refused');
    connector.last.fail(failure);
    const error = await rejection(write);
    expect(error).toBeInstanceOf(MessageDroppedError);
    expect((error as Error).message).toBe('Message dropped: never sent: the connection closed');
    expect((error as Error).cause).toBe(failure);
    expect(events.drops).toEqual([error]);
  });

  it('throws WebSocketClosedError at once once closing or closed, and queues nothing', async () => {
    const { connector, connection, events } = connectFake();
    const transport = connector.last.open();
    await settle();
    const closed = connection.close();
    expect(() => connection.writeMessage('x')).toThrow(WebSocketClosedError);
    expect(() => connection.send('x')).toThrow(WebSocketClosedError);
    transport.end({ code: 1000, reason: '', wasClean: true });
    await closed;
    expect(() => connection.writeMessage('x')).toThrow(WebSocketClosedError);
    expect(transport.sent).toEqual([]);
    expect(events.drops).toEqual([]);
  });
});
