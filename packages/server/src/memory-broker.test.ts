import { parseServerMessage } from '@gale/frame/resume';
import { ManualClock } from '@gale/test-utils';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import {
  type Delivery,
  type HistoryPolicy,
  MemoryBroker,
  type Position,
  type SubscriptionStart,
  type TopicSubscriber,
} from './topics.js';

/** A subscriber that records everything it is told, in order. */
class Recorder implements TopicSubscriber {
  readonly events: Array<
    | { type: 'started'; topic: string; start: SubscriptionStart }
    | { type: 'message'; data: string | Uint8Array; position: Position }
    | { type: 'skipped'; topic: string; position: Position }
  > = [];
  readonly deliveries: Delivery[] = [];
  onDeliver: ((message: string | Uint8Array) => void) | undefined;
  onStarted: (() => void) | undefined;

  started(topic: string, start: SubscriptionStart): void {
    this.events.push({ type: 'started', topic, start });
    this.onStarted?.();
  }

  deliver(message: string | Uint8Array, delivery: Delivery): void {
    this.events.push({ type: 'message', data: message, position: delivery.position });
    this.deliveries.push(delivery);
    this.onDeliver?.(message);
  }

  skipped(topic: string, position: Position): void {
    this.events.push({ type: 'skipped', topic, position });
  }

  /** The data of the messages received, in order. */
  get messages(): Array<string | Uint8Array> {
    return this.events.flatMap((e) => (e.type === 'message' ? [e.data] : []));
  }

  /** The offsets of the messages received, in order. */
  get offsets(): number[] {
    return this.events.flatMap((e) => (e.type === 'message' ? [e.position.offset] : []));
  }
}

function broker(history?: HistoryPolicy, clock = new ManualClock()) {
  return { broker: new MemoryBroker({ history, clock }), clock };
}

function publishAll(b: MemoryBroker, topic: string, count: number, from = 1): Position[] {
  return Array.from({ length: count }, (_, i) => b.publish(topic, `m${from + i}`));
}

describe('MemoryBroker positions', () => {
  it('numbers each topic’s messages from 1 in one epoch per topic', () => {
    const { broker: b } = broker();
    const [p1, p2, p3] = publishAll(b, 'news', 3);
    expect(p1!.offset).toBe(1);
    expect(p2).toEqual({ epoch: p1!.epoch, offset: 2 });
    expect(p3).toEqual({ epoch: p1!.epoch, offset: 3 });
    expect(p1!.epoch).toMatch(/^[A-Za-z0-9_-]{12}$/);
    const other = b.publish('sport', 'x');
    expect(other.offset).toBe(1);
    expect(other.epoch).not.toBe(p1!.epoch);
  });

  it('starts a subscription without a position at the head, and delivers live messages after it', () => {
    const { broker: b } = broker();
    const [, p2] = publishAll(b, 'news', 2);
    const r = new Recorder();
    const start = b.subscribe('news', r);
    expect(start).toEqual({ status: 'fresh', position: p2 });
    b.publish('news', 'live');
    expect(r.events).toEqual([
      { type: 'started', topic: 'news', start },
      { type: 'message', data: 'live', position: { epoch: p2!.epoch, offset: 3 } },
    ]);
  });

  it('starts a fresh topic at offset 0', () => {
    const { broker: b } = broker();
    const start = b.subscribe('new', new Recorder());
    expect(start.status).toBe('fresh');
    expect(start.position.offset).toBe(0);
  });

  it('tells an excluded subscriber the position it skipped', () => {
    const { broker: b } = broker();
    const me = new Recorder();
    const you = new Recorder();
    b.subscribe('news', me);
    b.subscribe('news', you);
    const position = b.publish('news', 'mine', { exclude: me });
    expect(me.events.slice(1)).toEqual([{ type: 'skipped', topic: 'news', position }]);
    expect(you.messages).toEqual(['mine']);
  });

  it('publishes objects as their JSON text', () => {
    const { broker: b } = broker();
    const r = new Recorder();
    b.subscribe('news', r);
    b.publish('news', { a: 1 });
    expect(r.messages).toEqual(['{"a":1}']);
  });
});

describe('MemoryBroker resume', () => {
  it('replays exactly the messages after the position, then live ones', () => {
    const { broker: b } = broker();
    const [, p2] = publishAll(b, 'news', 5);
    const r = new Recorder();
    const start = b.subscribe('news', r, { after: p2 });
    expect(start).toEqual({ status: 'resumed', position: p2 });
    b.publish('news', 'm6');
    expect(r.events[0]).toEqual({ type: 'started', topic: 'news', start });
    expect(r.messages).toEqual(['m3', 'm4', 'm5', 'm6']);
    expect(r.offsets).toEqual([3, 4, 5, 6]);
  });

  it('resumes at the head with nothing to replay', () => {
    const { broker: b } = broker();
    const [, p2] = publishAll(b, 'news', 2);
    const r = new Recorder();
    expect(b.subscribe('news', r, { after: p2 })).toEqual({ status: 'resumed', position: p2 });
    expect(r.messages).toEqual([]);
  });

  it('resumes from offset 0 when every message is still kept', () => {
    const { broker: b } = broker();
    const [p1] = publishAll(b, 'news', 3);
    const r = new Recorder();
    const after = { epoch: p1!.epoch, offset: 0 };
    expect(b.subscribe('news', r, { after })).toEqual({ status: 'resumed', position: after });
    expect(r.messages).toEqual(['m1', 'm2', 'm3']);
  });

  it('frames replayed messages as live ones: plain, and in the gale.v1 envelope', () => {
    const { broker: b } = broker();
    const [p1, p2] = publishAll(b, 'news', 2);
    const r = new Recorder();
    b.subscribe('news', r, { after: p1 });
    const [delivery] = r.deliveries;
    expect(delivery!.topic).toBe('news');
    // One unmasked text frame of less than 126 bytes: two header bytes, then the payload.
    const decode = (chunks: readonly Uint8Array[]) => {
      const frame = Buffer.concat(chunks);
      expect(frame[0]).toBe(0x81);
      expect(frame[1]).toBe(frame.length - 2);
      return frame.subarray(2).toString();
    };
    expect(decode(delivery!.frame())).toBe('m2');
    expect(parseServerMessage(decode(delivery!.envelope()))).toEqual({
      kind: 'topic',
      topic: 'news',
      position: p2,
      data: 'm2',
    });
  });

  it('reports a gap for what maxCount dropped, and replays what is kept', () => {
    const { broker: b } = broker({ maxCount: 3 });
    const [p1, p2] = publishAll(b, 'news', 5);
    const epoch = p1!.epoch;
    // Kept: 3, 4, 5. After 2 nothing was lost.
    const resumed = new Recorder();
    expect(b.subscribe('news', resumed, { after: p2 })).toEqual({
      status: 'resumed',
      position: p2,
    });
    expect(resumed.offsets).toEqual([3, 4, 5]);
    // After 1, message 2 is gone: gap from 1 to 2, then 3, 4, 5.
    const partial = new Recorder();
    expect(b.subscribe('news', partial, { after: p1 })).toEqual({
      status: 'gap',
      from: p1,
      position: { epoch, offset: 2 },
    });
    expect(partial.offsets).toEqual([3, 4, 5]);
    // From the very start.
    const all = new Recorder();
    expect(b.subscribe('news', all, { after: { epoch, offset: 0 } })).toMatchObject({
      status: 'gap',
      position: { epoch, offset: 2 },
    });
    expect(all.offsets).toEqual([3, 4, 5]);
  });

  it('drops messages older than maxAge on the clock', () => {
    const { broker: b, clock } = broker({ maxAge: 1000 });
    const p1 = b.publish('news', 'm1');
    clock.advance(600);
    b.publish('news', 'm2');
    clock.advance(399);
    const before = new Recorder();
    b.subscribe('news', before, { after: { epoch: p1.epoch, offset: 0 } });
    expect(before.offsets).toEqual([1, 2]);
    clock.advance(1); // m1 is 1000 ms old
    const after = new Recorder();
    expect(b.subscribe('news', after, { after: { epoch: p1.epoch, offset: 0 } })).toEqual({
      status: 'gap',
      from: { epoch: p1.epoch, offset: 0 },
      position: p1,
    });
    expect(after.offsets).toEqual([2]);
    clock.advance(600); // m2 too: nothing kept, the gap runs to the head
    const late = new Recorder();
    expect(b.subscribe('news', late, { after: p1 })).toEqual({
      status: 'gap',
      from: p1,
      position: { epoch: p1.epoch, offset: 2 },
    });
    expect(late.offsets).toEqual([]);
  });

  it('keeps at most maxBytes of payload (UTF-8 bytes of text, length of bytes)', () => {
    const { broker: b } = broker({ maxBytes: 10 });
    const p1 = b.publish('news', 'aaaa'); // 4
    b.publish('news', 'ééé'); // 6: 10 in all
    const both = new Recorder();
    b.subscribe('news', both, { after: { epoch: p1.epoch, offset: 0 } });
    expect(both.messages).toEqual(['aaaa', 'ééé']);
    b.publish('news', new Uint8Array(3)); // 13: the oldest goes
    const r = new Recorder();
    expect(b.subscribe('news', r, { after: { epoch: p1.epoch, offset: 0 } })).toMatchObject({
      status: 'gap',
      position: p1,
    });
    expect(r.offsets).toEqual([2, 3]);
    // A message larger than maxBytes is not kept at all.
    const big = b.publish('news', 'x'.repeat(11));
    const after = new Recorder();
    expect(b.subscribe('news', after, { after: { epoch: p1.epoch, offset: 3 } })).toEqual({
      status: 'gap',
      from: { epoch: p1.epoch, offset: 3 },
      position: big,
    });
    expect(after.offsets).toEqual([]);
  });

  it('reports a gap across epochs, with what the new epoch kept', () => {
    const { broker: b } = broker();
    const p = b.publish('news', 'm1');
    const old = { epoch: 'someOldEpoch', offset: 41 };
    const r = new Recorder();
    expect(b.subscribe('news', r, { after: old })).toEqual({
      status: 'gap',
      from: old,
      position: { epoch: p.epoch, offset: 0 },
    });
    expect(r.offsets).toEqual([1]);
  });

  it('reports a gap for a position past the head of the epoch', () => {
    const { broker: b } = broker();
    const p = b.publish('news', 'm1');
    const future = { epoch: p.epoch, offset: 5 };
    expect(b.subscribe('news', new Recorder(), { after: future })).toEqual({
      status: 'gap',
      from: future,
      position: p,
    });
  });

  it('forgets a topic nobody subscribes to once its history expired: a new epoch, and a gap', () => {
    const { broker: b, clock } = broker({ maxAge: 1000 });
    const p = b.publish('news', 'm1');
    expect(b.topicCount).toBe(1);
    clock.advance(999);
    expect(b.topicCount).toBe(1);
    clock.advance(1001); // the sweep after m1 expired
    expect(b.topicCount).toBe(0);
    expect(clock.pending).toBe(0); // no timer while there is nothing to sweep
    const r = new Recorder();
    const start = b.subscribe('news', r, { after: p });
    expect(start).toMatchObject({ status: 'gap', from: p, position: { offset: 0 } });
    expect(start.position.epoch).not.toBe(p.epoch);
    expect(b.publish('news', 'm1 again')).toEqual({ epoch: start.position.epoch, offset: 1 });
  });

  it('keeps a topic while it has a subscriber or a kept message', () => {
    const { broker: b, clock } = broker({ maxAge: 1000 });
    const r = new Recorder();
    const start = b.subscribe('quiet', r);
    b.publish('busy', 'm1');
    clock.advance(999);
    b.publish('busy', 'm2');
    clock.advance(500); // the sweep at 1000 drops m1 only
    expect(b.topicCount).toBe(2);
    b.unsubscribe('quiet', r);
    clock.advance(2000);
    expect(b.topicCount).toBe(0);
    expect(b.subscribe('quiet', r).position.epoch).not.toBe(start.position.epoch);
  });

  it('latest: true replays only the newest value, with no gap for the values it replaced', () => {
    const { broker: b } = broker({ latest: true });
    const [p1, , p3] = publishAll(b, 'price', 3);
    const epoch = p1!.epoch;
    const behind = new Recorder();
    expect(b.subscribe('price', behind, { after: p1 })).toEqual({
      status: 'resumed',
      position: { epoch, offset: 2 },
    });
    expect(behind.offsets).toEqual([3]);
    const current = new Recorder();
    expect(b.subscribe('price', current, { after: p3 })).toEqual({
      status: 'resumed',
      position: p3,
    });
    expect(current.offsets).toEqual([]);
    const other = new Recorder();
    const old = { epoch: 'anotherEpoch', offset: 9 };
    expect(b.subscribe('price', other, { after: old })).toEqual({
      status: 'gap',
      from: old,
      position: { epoch, offset: 2 },
    });
    expect(other.offsets).toEqual([3]);
    const fresh = new Recorder();
    expect(b.subscribe('price', fresh)).toEqual({ status: 'fresh', position: p3 });
    expect(fresh.offsets).toEqual([]);
  });

  it('latest: true reports a gap when the latest value expired', () => {
    const { broker: b, clock } = broker({ latest: true, maxAge: 1000 });
    b.subscribe('price', new Recorder()); // keeps the topic from being forgotten
    const [p1, p2] = publishAll(b, 'price', 2);
    clock.advance(1000);
    expect(b.subscribe('price', new Recorder(), { after: p1 })).toEqual({
      status: 'gap',
      from: p1,
      position: p2,
    });
    expect(b.subscribe('price', new Recorder(), { after: p2 })).toEqual({
      status: 'resumed',
      position: p2,
    });
  });

  it('history: false keeps nothing but still gives positions: resumed at the head, else a gap', () => {
    const { broker: b } = broker(false);
    const [p1, p2] = publishAll(b, 'news', 2);
    expect(p2).toEqual({ epoch: p1!.epoch, offset: 2 });
    const atHead = new Recorder();
    expect(b.subscribe('news', atHead, { after: p2 })).toEqual({ status: 'resumed', position: p2 });
    const behind = new Recorder();
    expect(b.subscribe('news', behind, { after: p1 })).toEqual({
      status: 'gap',
      from: p1,
      position: p2,
    });
    expect(behind.messages).toEqual([]);
    b.publish('news', 'm3');
    expect(atHead.offsets).toEqual([3]);
    expect(behind.offsets).toEqual([3]);
  });

  it('chooses the history per topic with a function', () => {
    const { broker: b } = broker((topic) =>
      topic.startsWith('price:') ? { latest: true } : false,
    );
    const [p1] = publishAll(b, 'price:eur', 3);
    const [q1] = publishAll(b, 'news', 3);
    const price = new Recorder();
    b.subscribe('price:eur', price, { after: p1 });
    expect(price.offsets).toEqual([3]);
    expect(b.subscribe('news', new Recorder(), { after: q1 }).status).toBe('gap');
  });
});

describe('MemoryBroker replay and live delivery', () => {
  it('delivers a message published from started() after the replay, once', () => {
    const { broker: b } = broker();
    const [p1] = publishAll(b, 'news', 3);
    const r = new Recorder();
    r.onStarted = () => b.publish('news', 'from started');
    b.subscribe('news', r, { after: p1 });
    b.publish('news', 'live');
    expect(r.messages).toEqual(['m2', 'm3', 'from started', 'live']);
    expect(r.offsets).toEqual([2, 3, 4, 5]);
  });

  it('delivers messages published from a replayed delivery after the replay, once, even once trimmed', () => {
    // maxCount 2: the publishes during the replay drop replayed messages from the history.
    const { broker: b } = broker({ maxCount: 2 });
    const [, p2] = publishAll(b, 'news', 4);
    const r = new Recorder();
    const other = new Recorder();
    b.subscribe('news', other);
    r.onDeliver = (message) => {
      if (message === 'm3') b.publish('news', 'reply to m3');
      if (message === 'reply to m3') b.publish('news', 'reply to the reply');
    };
    expect(b.subscribe('news', r, { after: p2 }).status).toBe('resumed');
    b.publish('news', 'live');
    expect(r.messages).toEqual(['m3', 'm4', 'reply to m3', 'reply to the reply', 'live']);
    expect(r.offsets).toEqual([3, 4, 5, 6, 7]);
    expect(other.offsets).toEqual([5, 6, 7]);
  });

  it('tells a replaying subscriber it was excluded from a message published meanwhile', () => {
    const { broker: b } = broker();
    const [p1] = publishAll(b, 'news', 2);
    const r = new Recorder();
    r.onDeliver = (message) => {
      if (message === 'm2') b.publish('news', 'my own', { exclude: r });
    };
    b.subscribe('news', r, { after: p1 });
    expect(r.events.slice(1)).toEqual([
      { type: 'message', data: 'm2', position: { epoch: p1!.epoch, offset: 2 } },
      { type: 'skipped', topic: 'news', position: { epoch: p1!.epoch, offset: 3 } },
    ]);
  });

  it('stops a replay the subscriber unsubscribes during, and does not add it', () => {
    const { broker: b } = broker();
    const [p1] = publishAll(b, 'news', 4);
    const r = new Recorder();
    r.onDeliver = (message) => {
      if (message === 'm3') b.unsubscribe('news', r);
    };
    b.subscribe('news', r, { after: p1 });
    b.publish('news', 'm5');
    expect(r.messages).toEqual(['m2', 'm3']);
    expect(b.local.has('news', r)).toBe(false);
  });

  it('delivers every message once and in order however publishes and resumes interleave', () => {
    const { broker: b } = broker({ maxCount: 5 });
    const seen = new Recorder();
    b.subscribe('t', seen);
    let last: Position = b.publish('t', 'm0');
    for (let round = 0; round < 20; round++) {
      const r = new Recorder();
      if (round % 3 === 0) {
        // The first replayed or live message it gets makes it publish one more.
        r.onDeliver = () => {
          r.onDeliver = undefined;
          b.publish('t', `nested ${round}`);
        };
      }
      const start = b.subscribe('t', r, { after: last });
      publishAll(b, 't', round % 4, round * 10);
      const offsets = r.offsets;
      // Every offset after the start position, consecutively.
      expect(offsets).toEqual(
        Array.from({ length: offsets.length }, (_, i) => start.position.offset + 1 + i),
      );
      b.unsubscribe('t', r);
      last = { epoch: last.epoch, offset: offsets.at(-1) ?? start.position.offset };
    }
    expect(seen.offsets).toEqual(Array.from({ length: seen.offsets.length }, (_, i) => i + 1));
  });
});

describe('MemoryBroker options', () => {
  it.each<[string, unknown]>([
    ['maxCount 0', { maxCount: 0 }],
    ['maxCount 1.5', { maxCount: 1.5 }],
    ['maxCount NaN', { maxCount: Number.NaN }],
    ['maxCount as a string', { maxCount: '10' }],
    ['maxAge 0', { maxAge: 0 }],
    ['maxAge -1', { maxAge: -1 }],
    ['maxAge Infinity', { maxAge: Number.POSITIVE_INFINITY }],
    ['maxBytes 0', { maxBytes: 0 }],
    ['maxBytes Infinity', { maxBytes: Number.POSITIVE_INFINITY }],
    ['latest "yes"', { latest: 'yes' }],
    ['history true', true],
    ['history null', null],
    ['history a number', 5],
  ])('refuses %s', (_what, history) => {
    expect(() => new MemoryBroker({ history: history as HistoryPolicy })).toThrow(
      InvalidArgumentError,
    );
  });

  it('refuses a clock that is not one', () => {
    expect(() => new MemoryBroker({ clock: {} as ManualClock })).toThrow(InvalidArgumentError);
  });

  it('refuses what a history function returns when it is invalid, at the topic’s first use', () => {
    const b = new MemoryBroker({ history: () => ({ maxCount: -1 }) });
    expect(() => b.publish('news', 'x')).toThrow(InvalidArgumentError);
  });

  it('accepts no options, and maxAge that is not an integer', () => {
    expect(() => new MemoryBroker()).not.toThrow();
    expect(() => new MemoryBroker({ history: { maxAge: 0.5 } })).not.toThrow();
  });

  it('close() stops the sweep timer', () => {
    const clock = new ManualClock();
    const b = new MemoryBroker({ clock });
    b.publish('news', 'x');
    expect(clock.pending).toBe(1);
    b.close();
    expect(clock.pending).toBe(0);
    b.publish('other', 'y');
    expect(clock.pending).toBe(0);
  });
});
