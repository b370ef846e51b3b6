import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Control,
  encodeControl,
  encodeDirectMessage,
  encodeHello,
  encodeTopicMessage,
  offerSubprotocols,
  parseHello,
  parseSelected,
  parseServerMessage,
  RESUME_SUBPROTOCOL,
  ResumeProtocolError,
  selectSubprotocol,
  splitOffer,
} from './resume.js';

const encoder = new TextEncoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

describe('subprotocol negotiation', () => {
  it('offers each app protocol joined with gale.v1, then gale.v1, then the app protocols', () => {
    expect(RESUME_SUBPROTOCOL).toBe('gale.v1');
    expect(offerSubprotocols([])).toEqual(['gale.v1']);
    expect(offerSubprotocols(['chat', 'v2.chat'])).toEqual([
      'gale.v1+chat',
      'gale.v1+v2.chat',
      'gale.v1',
      'chat',
      'v2.chat',
    ]);
  });

  it('splits an offer into gale.v1 and the app protocols, each once, in the offered order', () => {
    expect(splitOffer(offerSubprotocols(['chat', 'v2.chat']))).toEqual({
      resume: true,
      appProtocols: ['chat', 'v2.chat'],
    });
    expect(splitOffer(['gale.v1'])).toEqual({ resume: true, appProtocols: [] });
    expect(splitOffer(['gale.v1+chat'])).toEqual({ resume: true, appProtocols: ['chat'] });
    expect(splitOffer(['chat', 'mqtt'])).toEqual({ resume: false, appProtocols: ['chat', 'mqtt'] });
    expect(splitOffer([])).toEqual({ resume: false, appProtocols: [] });
    // Other versions are not gale.v1: they stay for the application (which will not know them).
    expect(splitOffer(['gale.v2', 'gale.v10'])).toEqual({
      resume: false,
      appProtocols: ['gale.v2', 'gale.v10'],
    });
  });

  it('ignores gale.v1+ with no subprotocol after it', () => {
    expect(splitOffer(['gale.v1+'])).toEqual({ resume: false, appProtocols: [] });
    expect(splitOffer(['gale.v1+', 'chat'])).toEqual({ resume: false, appProtocols: ['chat'] });
  });

  it('selects gale.v1 or gale.v1+app, and reads the selection back', () => {
    expect(selectSubprotocol(null)).toBe('gale.v1');
    expect(selectSubprotocol('chat')).toBe('gale.v1+chat');
    expect(parseSelected('gale.v1')).toEqual({ resume: true, appProtocol: null });
    expect(parseSelected('gale.v1+chat')).toEqual({ resume: true, appProtocol: 'chat' });
    expect(parseSelected('chat')).toEqual({ resume: false, appProtocol: 'chat' });
    expect(parseSelected(null)).toEqual({ resume: false, appProtocol: null });
    expect(parseSelected('gale.v2')).toEqual({ resume: false, appProtocol: 'gale.v2' });
  });

  it('round-trips any app choice through selectSubprotocol and parseSelected', () => {
    const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20}$/);
    fc.assert(
      fc.property(fc.option(token, { nil: null }), (choice) => {
        expect(parseSelected(selectSubprotocol(choice))).toEqual({
          resume: true,
          appProtocol: choice,
        });
      }),
    );
  });
});

describe('the hello', () => {
  it('round-trips', () => {
    const points = [
      ['chat', 'k3JX9a', 41],
      ['cart:42', 'Qw8rT0', 7],
      ['', 'e', 0],
    ] as const;
    const text = encodeHello(points);
    expect(text).toBe('{"resume":[["chat","k3JX9a",41],["cart:42","Qw8rT0",7],["","e",0]]}');
    expect(parseHello(text)).toEqual({ resume: points });
    expect(parseHello(encodeHello([]))).toEqual({ resume: [] });
    // Any iterable; other fields of the object are ignored.
    const fromIterable = encodeHello(new Set([['a', 'x', 1] as const]));
    expect(parseHello(fromIterable)).toEqual({ resume: [['a', 'x', 1]] });
    expect(parseHello('{"resume":[],"later":true}')).toEqual({ resume: [] });
  });

  it.each([
    ['bytes', bytes('{"resume":[]}')],
    ['not JSON', '{"resume":'],
    ['empty', ''],
    ['null', 'null'],
    ['a number', '42'],
    ['an array', '[]'],
    ['no resume list', '{}'],
    ['resume not a list', '{"resume":{}}'],
    ['a point that is not a list', '{"resume":["chat"]}'],
    ['a point of two', '{"resume":[["chat","e"]]}'],
    ['a point of four', '{"resume":[["chat","e",1,2]]}'],
    ['a topic that is not a string', '{"resume":[[1,"e",1]]}'],
    ['an empty epoch', '{"resume":[["chat","",1]]}'],
    ['an epoch of 65 characters', `{"resume":[["chat","${'e'.repeat(65)}",1]]}`],
    ['an epoch that is not a string', '{"resume":[["chat",7,1]]}'],
    ['a negative offset', '{"resume":[["chat","e",-1]]}'],
    ['a fractional offset', '{"resume":[["chat","e",1.5]]}'],
    ['an offset past 2^53', '{"resume":[["chat","e",9007199254740992]]}'],
    ['an offset as a string', '{"resume":[["chat","e","1"]]}'],
    ['a topic twice', '{"resume":[["chat","e",1],["chat","f",2]]}'],
  ])('refuses %s', (_what, message) => {
    expect(() => parseHello(message)).toThrow(ResumeProtocolError);
  });

  it('accepts an epoch of 64 characters and the largest safe offset', () => {
    const epoch = 'e'.repeat(64);
    const hello = `{"resume":[["chat","${epoch}",${Number.MAX_SAFE_INTEGER}]]}`;
    expect(parseHello(hello).resume).toEqual([['chat', epoch, Number.MAX_SAFE_INTEGER]]);
  });
});

describe('server messages', () => {
  it('wraps topic messages: text stays text, bytes stay bytes', () => {
    const position = { epoch: 'k3JX9a', offset: 42 };
    expect(encodeTopicMessage('chat', position, 'hi\nthere')).toBe(
      '["chat","k3JX9a",42]\nhi\nthere',
    );
    const binary = encodeTopicMessage('chat', position, new Uint8Array([0x0a, 0xff]));
    expect(binary).toEqual(new Uint8Array([...bytes('["chat","k3JX9a",42]\n'), 0x0a, 0xff]));
    expect(parseServerMessage('["chat","k3JX9a",42]\nhi\nthere')).toEqual({
      kind: 'topic',
      topic: 'chat',
      position,
      data: 'hi\nthere',
    });
    expect(parseServerMessage(binary)).toEqual({
      kind: 'topic',
      topic: 'chat',
      position,
      data: new Uint8Array([0x0a, 0xff]),
    });
  });

  it('escapes a topic with a newline in it, so the header stays one line', () => {
    const message = encodeTopicMessage('a\nb', { epoch: 'e', offset: 1 }, 'x') as string;
    expect(message.indexOf('\n')).toBe(message.length - 2);
    expect(parseServerMessage(message)).toMatchObject({ topic: 'a\nb', data: 'x' });
  });

  it('wraps direct messages with an empty header line', () => {
    expect(encodeDirectMessage('hello')).toBe('\nhello');
    expect(encodeDirectMessage('')).toBe('\n');
    expect(encodeDirectMessage(new Uint8Array([1, 2]))).toEqual(new Uint8Array([0x0a, 1, 2]));
    expect(parseServerMessage('\nhello')).toEqual({ kind: 'direct', data: 'hello' });
    expect(parseServerMessage('\n')).toEqual({ kind: 'direct', data: '' });
    expect(parseServerMessage('\n{"type":"position"}\n')).toEqual({
      kind: 'direct',
      data: '{"type":"position"}\n',
    });
    expect(parseServerMessage(new Uint8Array([0x0a, 1, 2]))).toEqual({
      kind: 'direct',
      data: new Uint8Array([1, 2]),
    });
    expect(parseServerMessage(new Uint8Array([0x0a]))).toEqual({
      kind: 'direct',
      data: new Uint8Array(0),
    });
  });

  it('round-trips position and gap controls', () => {
    const position: Control = { type: 'position', topic: 'chat', epoch: 'k3JX9a', offset: 0 };
    const gap: Control = {
      type: 'gap',
      topic: 'chat',
      from: { epoch: 'k3JX9a', offset: 41 },
      to: { epoch: 'Qw8rT0', offset: 3 },
    };
    expect(encodeControl(position)).toBe(
      '{"type":"position","topic":"chat","epoch":"k3JX9a","offset":0}\n',
    );
    expect(parseServerMessage(encodeControl(position))).toEqual({
      kind: 'control',
      control: position,
    });
    expect(parseServerMessage(encodeControl(gap))).toEqual({ kind: 'control', control: gap });
    // Unknown fields are dropped.
    expect(
      parseServerMessage('{"type":"position","topic":"t","epoch":"e","offset":1,"x":1}\n'),
    ).toEqual({
      kind: 'control',
      control: { type: 'position', topic: 't', epoch: 'e', offset: 1 },
    });
  });

  it.each([
    ['text without a header line', 'hello'],
    ['an empty text message', ''],
    ['a header that is not JSON', '[chat\nx'],
    ['a topic header of two', '["chat","e"]\nx'],
    ['a topic header of four', '["chat","e",1,2]\nx'],
    ['a topic that is not a string', '[1,"e",1]\nx'],
    ['an empty epoch', '["chat","",1]\nx'],
    ['an epoch of 65 characters', `["chat","${'e'.repeat(65)}",1]\nx`],
    ['a topic message at offset 0', '["chat","e",0]\nx'],
    ['a negative offset', '["chat","e",-1]\nx'],
    ['a fractional offset', '["chat","e",1.5]\nx'],
    ['a header that is a string', '"chat"\n'],
    ['a header that is a number', '42\n'],
    ['a header that is null', 'null\n'],
    ['an unknown control', '{"type":"reset","topic":"t"}\n'],
    ['a control without a topic', '{"type":"position","epoch":"e","offset":1}\n'],
    ['a position without an epoch', '{"type":"position","topic":"t","offset":1}\n'],
    ['a position with a bad offset', '{"type":"position","topic":"t","epoch":"e","offset":-1}\n'],
    ['a gap without to', '{"type":"gap","topic":"t","from":{"epoch":"e","offset":1}}\n'],
    [
      'a gap with a bad from',
      '{"type":"gap","topic":"t","from":{"epoch":"","offset":1},"to":{"epoch":"e","offset":2}}\n',
    ],
    [
      'a gap whose from is null',
      '{"type":"gap","topic":"t","from":null,"to":{"epoch":"e","offset":2}}\n',
    ],
    ['a control with a payload', '{"type":"position","topic":"t","epoch":"e","offset":1}\nx'],
    ['a header with a BOM', '\uFEFF["chat","e",1]\nx'],
  ])('refuses %s (text)', (_what, message) => {
    expect(() => parseServerMessage(message)).toThrow(ResumeProtocolError);
  });

  it.each([
    ['bytes without a header line', bytes('hello')],
    ['no bytes at all', new Uint8Array(0)],
    ['a header that is not UTF-8', new Uint8Array([0xff, 0xfe, 0x0a, 1])],
    ['a header that is not JSON', bytes('[chat\nx')],
    ['a topic message at offset 0', bytes('["chat","e",0]\nx')],
    // Controls are text only.
    ['a binary control', bytes('{"type":"position","topic":"t","epoch":"e","offset":1}\n')],
    ['a header with a BOM', new Uint8Array([0xef, 0xbb, 0xbf, ...bytes('["chat","e",1]\nx')])],
  ])('refuses %s (binary)', (_what, message) => {
    expect(() => parseServerMessage(message)).toThrow(ResumeProtocolError);
  });

  it('ResumeProtocolError is an Error with its name', () => {
    const error = new ResumeProtocolError('x');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ResumeProtocolError');
  });
});

describe('properties', () => {
  const topic = fc.string({ unit: 'binary', maxLength: 30 });
  const epoch = fc.string({ unit: 'binary', minLength: 1, maxLength: 64 });
  const offset = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
  const text = fc.string({ unit: 'binary', maxLength: 200 });
  const payload = fc.oneof(text, fc.uint8Array({ maxLength: 200 }));

  it('parseServerMessage(encodeTopicMessage(...)) gives back the topic, position and data', () => {
    fc.assert(
      fc.property(topic, epoch, offset, payload, (t, e, o, data) => {
        const encoded = encodeTopicMessage(t, { epoch: e, offset: o }, data);
        expect(typeof encoded).toBe(typeof data);
        expect(parseServerMessage(encoded)).toEqual({
          kind: 'topic',
          topic: t,
          position: { epoch: e, offset: o },
          data,
        });
      }),
    );
  });

  it('parseServerMessage(encodeDirectMessage(data)) gives back the data', () => {
    fc.assert(
      fc.property(payload, (data) => {
        expect(parseServerMessage(encodeDirectMessage(data))).toEqual({ kind: 'direct', data });
      }),
    );
  });

  it('parseServerMessage(encodeControl(control)) gives back the control', () => {
    const position = fc.record({ epoch, offset: fc.nat({ max: Number.MAX_SAFE_INTEGER }) });
    const control: fc.Arbitrary<Control> = fc.oneof(
      position.chain((p) =>
        topic.map((t) => ({
          type: 'position' as const,
          topic: t,
          epoch: p.epoch,
          offset: p.offset,
        })),
      ),
      fc.record({ type: fc.constant('gap' as const), topic, from: position, to: position }),
    );
    fc.assert(
      fc.property(control, (c) => {
        expect(parseServerMessage(encodeControl(c))).toEqual({ kind: 'control', control: c });
      }),
    );
  });

  it('parseHello(encodeHello(points)) gives back the points', () => {
    const points = fc.uniqueArray(fc.tuple(topic, epoch, fc.nat()), {
      selector: ([t]) => t,
      maxLength: 20,
    });
    fc.assert(
      fc.property(points, (list) => {
        expect(parseHello(encodeHello(list))).toEqual({ resume: list });
      }),
    );
  });

  it('every input either parses or throws ResumeProtocolError, never anything else', () => {
    const anyText = fc.oneof(
      text,
      fc.json(),
      fc.tuple(fc.json(), text).map(([header, rest]) => `${header}\n${rest}`),
    );
    const anyInput = fc.oneof(anyText, anyText.map(bytes), fc.uint8Array({ maxLength: 50 }));
    fc.assert(
      fc.property(anyInput, (input) => {
        for (const parse of [parseServerMessage, parseHello] as const) {
          try {
            parse(input);
          } catch (error) {
            expect(error).toBeInstanceOf(ResumeProtocolError);
          }
        }
      }),
    );
  });
});
