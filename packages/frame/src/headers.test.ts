import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import type { ExtensionOffer } from './extension.js';
import {
  isToken,
  parseExtensions,
  parseTokenList,
  parseUpgrade,
  serializeExtensions,
} from './headers.js';

/** Characters of RFC 7230 `tchar`, for generating tokens. */
const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const token = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 });

describe('isToken', () => {
  it('accepts every tchar and refuses separators, whitespace, controls and non-ASCII', () => {
    expect(isToken(TCHARS)).toBe(true);
    for (const bad of [
      '',
      'a b',
      'a,b',
      'a;b',
      'a=b',
      '"a"',
      'a/b',
      'a\tb',
      'a\r\nb',
      'a\0',
      'é',
    ]) {
      expect(isToken(bad)).toBe(false);
    }
    expect(isToken('\u0161')).toBe(false); // Its low byte, 0x61, is the tchar `a`.
  });
});

describe('parseTokenList', () => {
  it('splits a comma-separated list and keeps the case of each token', () => {
    expect(parseTokenList('chat, superchat')).toEqual(['chat', 'superchat']);
    expect(parseTokenList('keep-alive, Upgrade')).toEqual(['keep-alive', 'Upgrade']);
  });

  it('allows OWS around elements and skips empty elements, as RFC 7230 §7 requires', () => {
    expect(parseTokenList(' \ta ,\t b\t ')).toEqual(['a', 'b']);
    expect(parseTokenList(', a,, , b ,')).toEqual(['a', 'b']);
  });

  it('returns an empty list for a value with no elements', () => {
    expect(parseTokenList('')).toEqual([]);
    expect(parseTokenList(' , ,')).toEqual([]);
  });

  it('throws a SyntaxError for an element that is not a token', () => {
    for (const bad of ['a b', 'a;b', 'a, "b"', 'a/1', 'a,\r\nb', 'é', '\u0161', 'a,\0']) {
      expect(() => parseTokenList(bad), bad).toThrow(SyntaxError);
    }
  });

  it('reports the position of the offending character', () => {
    expect(() => parseTokenList('a, b c')).toThrow('unexpected "c" at index 5');
  });
});

describe('parseUpgrade', () => {
  it('accepts protocols with a version, as RFC 7230 §6.7 allows', () => {
    expect(parseUpgrade('HTTP/2.0, WebSocket')).toEqual(['HTTP/2.0', 'WebSocket']);
    expect(parseUpgrade('h2c,websocket')).toEqual(['h2c', 'websocket']);
  });

  it('throws a SyntaxError for a malformed protocol', () => {
    for (const bad of ['/1', 'a/', 'a/1/2', 'a /1', 'web socket']) {
      expect(() => parseUpgrade(bad), bad).toThrow(SyntaxError);
    }
  });
});

describe('parseExtensions', () => {
  it('returns no offers when the header is absent', () => {
    expect(parseExtensions(undefined)).toEqual([]);
    expect(parseExtensions([])).toEqual([]);
  });

  it('parses an extension without parameters', () => {
    expect(parseExtensions('permessage-deflate')).toEqual([
      { name: 'permessage-deflate', params: [] },
    ]);
  });

  it('parses parameters with token values, quoted values and no value', () => {
    expect(
      parseExtensions(
        'permessage-deflate; client_max_window_bits; server_max_window_bits="10"; x=15',
      ),
    ).toEqual([
      {
        name: 'permessage-deflate',
        params: [
          ['client_max_window_bits', true],
          ['server_max_window_bits', '10'],
          ['x', '15'],
        ],
      },
    ]);
  });

  it('unescapes quoted-pairs in quoted values', () => {
    expect(parseExtensions('a; b="\\1\\0"; c="x\\-y"')).toEqual([
      {
        name: 'a',
        params: [
          ['b', '10'],
          ['c', 'x-y'],
        ],
      },
    ]);
  });

  it('allows OWS around commas, semicolons and equals signs', () => {
    expect(parseExtensions(' a ;\tb = 1 ; c= "2" ;d ,\te ')).toEqual([
      {
        name: 'a',
        params: [
          ['b', '1'],
          ['c', '2'],
          ['d', true],
        ],
      },
      { name: 'e', params: [] },
    ]);
  });

  it('parses several offers in order and keeps duplicates for the negotiator to judge', () => {
    expect(parseExtensions('a; x=1; x=2, a, b')).toEqual([
      {
        name: 'a',
        params: [
          ['x', '1'],
          ['x', '2'],
        ],
      },
      { name: 'a', params: [] },
      { name: 'b', params: [] },
    ]);
  });

  it('skips empty list elements', () => {
    expect(parseExtensions(', a,, ,b ,')).toEqual([
      { name: 'a', params: [] },
      { name: 'b', params: [] },
    ]);
  });

  it('treats several header lines as one comma-separated list', () => {
    expect(parseExtensions(['permessage-deflate; client_max_window_bits', 'x-foo', ''])).toEqual([
      { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
      { name: 'x-foo', params: [] },
    ]);
  });

  it('throws a SyntaxError for malformed headers', () => {
    const malformed = [
      '',
      ' , ',
      ';',
      'a;',
      'a;;b',
      'a; ;b',
      ';a',
      'a=',
      'a=1',
      'a; b=',
      'a; b= ',
      'a; b=,',
      'a; b=1=2',
      'a; b="1',
      'a; b="',
      'a; b="\\',
      'a; b="1\\"',
      'a; b=""',
      'a; b="1 0"',
      'a; b="1,0"',
      'a; b="é"',
      'a; b="1"x',
      'a; b=1 2',
      'a b',
      'a; b c',
      '"a"',
      'a; "b"=1',
      'a\r\n; b',
      'é',
    ];
    for (const value of malformed) {
      expect(() => parseExtensions(value), JSON.stringify(value)).toThrow(SyntaxError);
    }
  });

  it('returns exactly what serializeExtensions wrote', () => {
    const param = fc.tuple(token, fc.oneof(token, fc.constant<true>(true)));
    const offer = fc.record({ name: token, params: fc.array(param, { maxLength: 4 }) });
    fc.assert(
      fc.property(fc.array(offer, { minLength: 1, maxLength: 4 }), (offers) => {
        expect(parseExtensions(serializeExtensions(offers))).toEqual(offers);
      }),
    );
  });

  it('either parses or throws a SyntaxError, whatever the input', () => {
    const unit = fc.constantFrom(...'ab1 \t,;="\\\r\né');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 30 }), (value) => {
        try {
          parseExtensions(value);
        } catch (error) {
          expect(error).toBeInstanceOf(SyntaxError);
        }
      }),
    );
  });
});

describe('serializeExtensions', () => {
  it('writes offers as name; param=value; flag, separated by commas', () => {
    const offers: ExtensionOffer[] = [
      {
        name: 'permessage-deflate',
        params: [
          ['client_max_window_bits', true],
          ['server_max_window_bits', '10'],
        ],
      },
      { name: 'x-foo', params: [] },
    ];
    expect(serializeExtensions(offers)).toBe(
      'permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-foo',
    );
    expect(serializeExtensions([])).toBe('');
  });

  it('refuses names and values that are not tokens', () => {
    const bad: ExtensionOffer[][] = [
      [{ name: 'a b', params: [] }],
      [{ name: 'a', params: [['b\r\nX-Injected', true]] }],
      [{ name: 'a', params: [['b', '1\r\nX-Injected: 1']] }],
      [{ name: 'a', params: [['b', '']] }],
    ];
    for (const offers of bad) {
      expect(() => serializeExtensions(offers)).toThrow(InvalidArgumentError);
    }
  });
});

// CVE-2021-32640: ws split Sec-WebSocket-Protocol with a regex that went quadratic on a long run
// of spaces between two tokens. The scanners only move forward, so these inputs are linear; the
// tests check the answers, which a timeout would also catch if that ever regressed.
describe.each([50_000, 500_000])('with %i spaces of CVE-2021-32640 padding', (n) => {
  const spaces = ' '.repeat(n);

  it('refuses a token list with whitespace inside an element', () => {
    expect(() => parseTokenList(`b${spaces}x`)).toThrow(SyntaxError);
    expect(() => parseTokenList(`b${spaces}x`)).toThrow(`at index ${n + 1}`);
    expect(() => parseTokenList(`${spaces}b${'\t'.repeat(n)}x`)).toThrow(SyntaxError);
  });

  it('parses a token list whose elements are padded with whitespace', () => {
    expect(parseTokenList(`${spaces}b${spaces},${spaces}x${spaces}`)).toEqual(['b', 'x']);
    expect(parseTokenList(`${', '.repeat(n)}b`)).toEqual(['b']);
  });

  it('refuses extensions with whitespace inside an element', () => {
    expect(() => parseExtensions(`permessage-deflate${spaces}x`)).toThrow(SyntaxError);
    expect(() => parseExtensions(`a;b${spaces}x`)).toThrow(SyntaxError);
    expect(() => parseExtensions(`a;b=${spaces}`)).toThrow(SyntaxError);
    expect(() => parseExtensions(`a;b="${'1'.repeat(n)}`)).toThrow(SyntaxError);
    expect(() => parseExtensions(`a${';'.repeat(n)}`)).toThrow(SyntaxError);
  });

  it('parses extensions padded with whitespace everywhere', () => {
    const padded = `${spaces}a${spaces};${spaces}b${spaces}=${spaces}1${spaces},${spaces}c${spaces}`;
    expect(parseExtensions(padded)).toEqual([
      { name: 'a', params: [['b', '1']] },
      { name: 'c', params: [] },
    ]);
    expect(parseExtensions(`a; b="${'\\1'.repeat(n)}"`)).toEqual([
      { name: 'a', params: [['b', '1'.repeat(n)]] },
    ]);
  });
});
