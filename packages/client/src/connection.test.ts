import { describe, expect, it } from 'vitest';
import { connectFake, settle } from '../test/fake-connector.ts';
import { InvalidArgumentError, WebSocketClosedError } from './errors.js';
import type { ConnectOptions } from './options.js';

// What ClientConnection does itself, over the units: checking arguments and shaping messages.

async function opened(options: ConnectOptions = {}) {
  const { connector, connection } = connectFake(options);
  const transport = connector.last.open();
  await settle();
  return { connector, connection, transport };
}

describe('ClientConnection', () => {
  it('refuses a malformed URL, another scheme or a fragment with InvalidArgumentError, connecting nowhere', () => {
    for (const url of ['not a url', 'ftp://gale.test/', 'ws://gale.test/#top']) {
      expect(() => connectFake({}, url), url).toThrow(InvalidArgumentError);
    }
    expect(connectFake({}, 'https://gale.test/a?b=1').connection.url).toBe(
      'https://gale.test/a?b=1',
    );
  });

  it('refuses a readQueueSize or sendQueueSize that is not a whole number in range', () => {
    expect(() => connectFake({ readQueueSize: 0 })).toThrow(InvalidArgumentError);
    expect(() => connectFake({ sendQueueSize: -1 })).toThrow(InvalidArgumentError);
    expect(() => connectFake({ sendQueueSize: 1.5 })).toThrow(InvalidArgumentError);
  });

  it('refuses a maxMessageSize that is not positive before it connects', () => {
    for (const maxMessageSize of [0, -1, Number.NaN]) {
      expect(() => connectFake({ maxMessageSize }), String(maxMessageSize)).toThrow(
        'maxMessageSize must be > 0',
      );
    }
    expect(() => connectFake({ maxMessageSize: 1 })).not.toThrow();
  });

  it('sends a string as text, bytes and buffers as binary, a string as binary on request, anything else as JSON', async () => {
    const { connection, transport } = await opened();
    const bytes = new Uint8Array([1, 2, 3]);
    await connection.writeMessage('text');
    await connection.writeMessage(bytes);
    await connection.writeMessage(bytes.buffer);
    await connection.writeMessage(new DataView(bytes.buffer, 1, 2));
    await connection.writeMessage('é', { binary: true });
    await connection.writeMessage({ a: [1] });
    expect(transport.sent.map(({ data, binary }) => [data, binary])).toEqual([
      ['text', false],
      [bytes, true],
      [bytes, true],
      [new Uint8Array([2, 3]), true],
      [new Uint8Array([0xc3, 0xa9]), true],
      ['{"a":[1]}', false],
    ]);
    expect(() => connection.writeMessage(undefined as unknown as object)).toThrow(
      InvalidArgumentError,
    );
  });

  it('refuses a close code an application may not send and a reason over 123 bytes, and stays open', async () => {
    const { connection, transport } = await opened();
    expect(() => connection.close(1006)).toThrow(InvalidArgumentError);
    expect(() => connection.close(2999)).toThrow(InvalidArgumentError);
    expect(() => connection.close(1000, 'x'.repeat(124))).toThrow(InvalidArgumentError);
    expect(connection.state).toBe('open');
    void connection.close(undefined, 'bye');
    expect(transport.calls).toEqual(['close 1000 bye']);
  });

  it('pings only while open, with at most 125 bytes', async () => {
    const { connection, transport } = await opened();
    connection.ping('hello');
    expect(transport.calls).toEqual(['ping']);
    expect(() => connection.ping(new Uint8Array(126))).toThrow(InvalidArgumentError);
    void connection.close();
    expect(() => connection.ping()).toThrow(WebSocketClosedError);
  });

  it("reports the transport's bufferedAmount, and 0 without a transport", async () => {
    const { connection, transport } = await opened();
    transport.bufferedAmount = 42;
    expect(connection.bufferedAmount).toBe(42);
    transport.end();
    expect(connection.bufferedAmount).toBe(0);
  });

  it('parses JSON from text and binary messages', async () => {
    const { connection, transport } = await opened();
    transport.receive('{"a":1}');
    transport.receive(new TextEncoder().encode('[2]'));
    expect(await connection.readJson()).toEqual({ a: 1 });
    expect(await connection.readJson()).toEqual([2]);
  });
});
