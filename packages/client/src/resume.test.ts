import {
  encodeControl,
  encodeDirectMessage,
  encodeTopicMessage,
  type Position,
} from '@gale/frame/resume';
import { describe, expect, it } from 'vitest';
import { connectFake, type FakeConnection, settle } from '../test/fake-connector.ts';
import { InvalidArgumentError } from './errors.js';
import type { GapEvent } from './events.js';
import type { ConnectOptions, Message } from './options.js';

// gale.v1 (docs/resume-protocol.md), the client side, over fake transports whose server speaks
// it: the offer and the selected subprotocol, the hello, the envelope, positions, gaps, 1002.

const encoder = new TextEncoder();
const at = (epoch: string, offset: number): Position => ({ epoch, offset });
const topic = (name: string, position: Position, message: string | Uint8Array) =>
  encodeTopicMessage(name, position, message);
const position = (name: string, { epoch, offset }: Position): string =>
  encodeControl({ type: 'position', topic: name, epoch, offset });
const gap = (name: string, from: Position, to: Position): string =>
  encodeControl({ type: 'gap', topic: name, from, to });

/** A connection with `resume` (and reconnection), its gap events recorded. */
function resuming(options: ConnectOptions = {}): FakeConnection & { gaps: GapEvent[] } {
  const fake = connectFake({ resume: true, reconnect: { minDelay: 10, jitter: 0 }, ...options });
  const gaps: GapEvent[] = [];
  fake.connection.addEventListener('gap', (event) => gaps.push(event));
  return { ...fake, gaps };
}

/** Opens the pending attempt with the server selecting `selected`. */
async function open(fake: FakeConnection, selected: string | null = 'gale.v1') {
  const transport = fake.connector.last.open(selected);
  await settle();
  return transport;
}

/** What the application has received so far (without waiting for more). */
async function received(fake: FakeConnection, count: number): Promise<Message[]> {
  const messages: Message[] = [];
  for (let i = 0; i < count; i++) messages.push((await fake.connection.readMessage())!);
  return messages;
}

describe('negotiating gale.v1', () => {
  it("offers gale.v1 joined to each of the application's subprotocols, then alone, then theirs", () => {
    const fake = resuming({ subprotocols: ['chat', 'chat.v2'] });
    expect(fake.connector.last.options.subprotocols).toEqual([
      'gale.v1+chat',
      'gale.v1+chat.v2',
      'gale.v1',
      'chat',
      'chat.v2',
    ]);
    expect(resuming().connector.last.options.subprotocols).toEqual(['gale.v1']);
  });

  it("reports the application's part of what the server selected, never gale.v1", async () => {
    const cases: Array<[string | null, string | null]> = [
      ['gale.v1+chat', 'chat'],
      ['gale.v1', null],
      ['chat', 'chat'],
      [null, null],
    ];
    for (const [selected, expected] of cases) {
      const fake = resuming({ subprotocols: ['chat'] });
      await open(fake, selected);
      expect(fake.connection.selectedSubprotocol, String(selected)).toBe(expected);
    }
  });

  it("refuses gale.v1's own names among the application's subprotocols when resuming", () => {
    for (const name of ['gale.v1', 'gale.v1+chat']) {
      expect(() => resuming({ subprotocols: [name] }), name).toThrow(InvalidArgumentError);
    }
    expect(() => connectFake({ subprotocols: ['gale.v1'] })).not.toThrow();
  });

  it('is off by default, with reconnect too: the application offers its list, unchanged', async () => {
    const subprotocols = ['chat'];
    const fake = connectFake({ reconnect: true, subprotocols });
    expect(fake.connector.last.options.subprotocols).toBe(subprotocols);
    const transport = await open(fake, 'chat');
    expect(transport.sent).toEqual([]);
    expect(fake.connection.positions().size).toBe(0);
  });
});

describe('a gale.v1 socket', () => {
  it('starts with the hello, empty on the first connection, before any write', async () => {
    const fake = resuming();
    const queued = fake.connection.writeMessage('queued');
    fake.connection.addEventListener('statechange', (event) => {
      if (event.state === 'open') fake.connection.send('on open');
    });
    const transport = await open(fake);
    await queued;
    expect(transport.sentData).toEqual(['{"resume":[]}', 'queued', 'on open']);
    expect(transport.sent[0]).toEqual({ data: '{"resume":[]}', binary: false, track: false });
  });

  it('presents the position of each topic in the hello of a reconnection, before onReconnect and the queue', async () => {
    const fake = resuming({ onReconnect: (connection) => connection.send('resubscribe') });
    const first = await open(fake);
    first.receive(position('chat', at('E1', 40)));
    first.receive(topic('chat', at('E1', 41), 'hi'));
    first.receive(position('cart:42', at('Qw', 7)));
    first.end();
    void fake.connection.writeMessage('queued');
    fake.clock.advance(10);
    const second = await open(fake);
    expect(second.sentData).toEqual([
      '{"resume":[["chat","E1",41],["cart:42","Qw",7]]}',
      'resubscribe',
      'queued',
    ]);
  });

  it('hands the application the payload of direct and topic messages, text as text and bytes as bytes', async () => {
    const fake = resuming();
    const transport = await open(fake);
    const bytes = new Uint8Array([0, 0x0a, 0xff]);
    transport.receive(encodeDirectMessage('direct'));
    transport.receive(encodeDirectMessage(bytes));
    transport.receive(topic('chat', at('E', 1), 'line 1\nline 2'));
    transport.receive(topic('chat', at('E', 2), bytes));
    transport.receive(encodeDirectMessage(''));
    expect(await received(fake, 5)).toEqual(['direct', bytes, 'line 1\nline 2', bytes, '']);
  });

  it('drops a topic message at or before the known position of its epoch, and counts it', async () => {
    const fake = resuming();
    const transport = await open(fake);
    transport.receive(position('chat', at('E', 5)));
    transport.receive(topic('chat', at('E', 5), 'five again'));
    transport.receive(topic('chat', at('E', 6), 'six'));
    transport.receive(topic('chat', at('E', 6), 'six again'));
    transport.receive(topic('chat', at('E', 2), 'two'));
    transport.receive(topic('chat', at('E', 7), 'seven'));
    expect(await received(fake, 2)).toEqual(['six', 'seven']);
    expect(fake.connection.duplicates).toBe(3);
    expect(fake.connection.positions()).toEqual(new Map([['chat', at('E', 7)]]));
    expect(fake.gaps).toEqual([]);
  });

  it('delivers a message of another epoch and moves to it (a change of epoch comes with a gap control)', async () => {
    const fake = resuming();
    const transport = await open(fake);
    transport.receive(position('chat', at('E1', 9)));
    transport.receive(topic('chat', at('E2', 1), 'new history'));
    transport.receive(topic('news', at('N', 3), 'unknown topic'));
    expect(await received(fake, 2)).toEqual(['new history', 'unknown topic']);
    expect(fake.connection.positions()).toEqual(
      new Map([
        ['chat', at('E2', 1)],
        ['news', at('N', 3)],
      ]),
    );
  });

  it('moves a topic to the position a control names, the application seeing nothing of it', async () => {
    const fake = resuming();
    const transport = await open(fake);
    transport.receive(position('chat', at('E', 3)));
    transport.receive(position('chat', at('E', 4)));
    transport.receive(encodeDirectMessage('after'));
    expect(await received(fake, 1)).toEqual(['after']);
    expect(fake.connection.positions().get('chat')).toEqual(at('E', 4));
  });

  it('reports a gap control as a gap event, and moves the topic to its end', async () => {
    const fake = resuming();
    const transport = await open(fake);
    transport.receive(position('chat', at('E1', 40)));
    transport.receive(gap('chat', at('E1', 40), at('E2', 12)));
    transport.receive(topic('chat', at('E2', 13), 'next'));
    expect(await received(fake, 1)).toEqual(['next']);
    expect(fake.gaps).toHaveLength(1);
    expect(fake.gaps[0]).toMatchObject({
      type: 'gap',
      topic: 'chat',
      from: at('E1', 40),
      to: at('E2', 12),
    });
    expect(fake.connection.positions().get('chat')).toEqual(at('E2', 13));
  });

  it('reports a message more than one past the position, in its epoch, as a gap, then delivers it', async () => {
    const fake = resuming();
    const transport = await open(fake);
    transport.receive(position('chat', at('E', 5)));
    let seenAtGap: Position | undefined;
    fake.connection.addEventListener('gap', () => {
      seenAtGap = fake.connection.positions().get('chat');
    });
    transport.receive(topic('chat', at('E', 8), 'eight'));
    expect(fake.gaps).toHaveLength(1);
    expect(fake.gaps[0]).toMatchObject({ topic: 'chat', from: at('E', 5), to: at('E', 7) });
    expect(seenAtGap).toEqual(at('E', 8));
    expect(await received(fake, 1)).toEqual(['eight']);
  });

  it('gives a copy of the positions', async () => {
    const fake = resuming();
    const transport = await open(fake);
    transport.receive(position('chat', at('E', 1)));
    const copy = fake.connection.positions() as Map<string, Position>;
    copy.set('chat', at('X', 99));
    copy.delete('chat');
    expect(fake.connection.positions()).toEqual(new Map([['chat', at('E', 1)]]));
  });

  it('keeps the positions across reconnections, for the life of the connection object', async () => {
    const fake = resuming();
    (await open(fake)).receive(position('chat', at('E', 1)));
    fake.connector.last.transport!.end();
    fake.clock.advance(10);
    const second = await open(fake);
    second.receive(topic('chat', at('E', 2), 'two'));
    expect(fake.connection.positions()).toEqual(new Map([['chat', at('E', 2)]]));
    fake.connector.last.transport!.end();
    fake.clock.advance(10);
    expect((await open(fake)).sentData).toEqual(['{"resume":[["chat","E",2]]}']);
  });

  it('counts controls and duplicates as signs of life for the heartbeat', async () => {
    const fake = resuming({ heartbeat: { interval: 100, timeout: 50 } });
    const transport = await open(fake);
    transport.receive(position('chat', at('E', 1)));
    for (let beat = 0; beat < 3; beat++) {
      fake.clock.advance(100);
      transport.receive(
        beat % 2 === 0 ? position('chat', at('E', 1)) : topic('chat', at('E', 1), 'dup'),
      );
    }
    fake.clock.advance(60);
    expect(transport.calls).toEqual([]);
    fake.clock.advance(100);
    expect(transport.calls).toEqual(['abort heartbeat timed out']);
  });

  it('closes the socket with 1002 on a malformed message, reads nothing more from it, and reconnects', async () => {
    const fake = resuming();
    const first = await open(fake);
    first.receive(topic('chat', at('E', 1), 'one'));
    first.receive('no header line');
    first.receive(encodeDirectMessage('after the error'));
    expect(first.calls).toEqual(['close 1002 a gale.v1 message has no header line']);
    // Writes wait for the next socket instead of going to the closing one.
    const write = fake.connection.writeMessage('later');
    expect(first.sentData).toEqual(['{"resume":[]}']);

    first.end({ code: 1002, reason: '', wasClean: true });
    expect(fake.events.reconnecting[0]).toMatchObject({ info: { code: 1002 } });
    fake.clock.advance(10);
    const second = await open(fake);
    await write;
    expect(second.sentData).toEqual(['{"resume":[["chat","E",1]]}', 'later']);
    expect(await received(fake, 1)).toEqual(['one']);
    second.receive(encodeDirectMessage('fine'));
    expect(await received(fake, 1)).toEqual(['fine']);
  });

  it('refuses a control with a payload, a bad header and a bad control alike', async () => {
    const malformed: Message[] = [
      `${position('chat', at('E', 1))}payload`,
      '{"type":"nope","topic":"chat"}\n',
      '["chat","E",0]\nzero',
      encoder.encode('{"type":"position","topic":"t","epoch":"E","offset":1}\n'),
      'not json\nx',
    ];
    for (const message of malformed) {
      const fake = resuming();
      const transport = await open(fake);
      transport.receive(message);
      expect(transport.calls, String(message)).toHaveLength(1);
      expect(transport.calls[0], String(message)).toMatch(/^close 1002 /);
    }
  });

  it('drops the socket where 1002 cannot be sent (browsers), and closes for good without reconnect', async () => {
    const fake = connectFake({ resume: true });
    const transport = await open(fake);
    transport.close = () => {
      throw new InvalidArgumentError('Cannot close with 1002');
    };
    transport.receive('no header line');
    expect(transport.calls).toEqual(['abort a gale.v1 message has no header line']);
    await settle();
    expect(fake.connection.state).toBe('closed');
    expect(fake.events.reconnecting).toEqual([]);
  });

  it('is a plain connection when the server does not select gale.v1: no hello, messages untouched', async () => {
    const fake = resuming({ subprotocols: ['chat'] });
    const transport = await open(fake, 'chat');
    const raw = ['\nlooks direct', topic('chat', at('E', 1), 'looks like a topic'), 'plain'];
    for (const message of raw) transport.receive(message);
    expect(await received(fake, 3)).toEqual(raw);
    expect(transport.sent).toEqual([]);
    expect(fake.connection.positions().size).toBe(0);
  });
});

describe('resume off', () => {
  it('passes every message through untouched and sends no hello, even on a reconnection', async () => {
    const fake = connectFake({ reconnect: { minDelay: 10, jitter: 0 }, subprotocols: ['chat'] });
    const first = await open(fake, 'chat');
    const raw: Message[] = [encodeDirectMessage('x'), position('chat', at('E', 1)), 'plain'];
    for (const message of raw) first.receive(message);
    expect(await received(fake, 3)).toEqual(raw);
    first.end();
    fake.clock.advance(10);
    const second = await open(fake, 'chat');
    expect(second.sent).toEqual([]);
    expect(fake.connection.selectedSubprotocol).toBe('chat');
    expect(fake.connection.duplicates).toBe(0);
  });
});
