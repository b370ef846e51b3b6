import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSignedValue, decodeSignedValue } from './secure-cookie.js';

// Tornado's own fixtures (tornado/test/web_test.py, SignedValueTest).
const SECRET = "It's a secret to everybody";
const PRESENT = 1_300_000_000;
const PAST = PRESENT - 86_400 * 32;
const KNOWN = '2|1:0|10:1300000000|3:key|8:dmFsdWU=|';
const KNOWN_SIGNATURE = '3d4e60b996ff9c5d5788e333a0cba6f238a22c6c0f94788870e1a9ecd482e152';

function decode(signed: string, name = 'key', now = PRESENT, maxAgeDays = 31): string | null {
  return decodeSignedValue(SECRET, name, signed, maxAgeDays, now);
}

describe('createSignedValue', () => {
  it('produces the value Tornado signs for the same secret, name, value and time', () => {
    expect(createSignedValue(SECRET, 'key', 'value', PRESENT)).toBe(KNOWN + KNOWN_SIGNATURE);
  });

  it('lays out length-prefixed fields and an HMAC-SHA256 of everything before it', () => {
    const secret = 'gale test secret';
    const value = 'nickname=日本';
    const encoded = Buffer.from(value, 'utf8').toString('base64');
    const prefix = `2|1:0|10:1700000000|8:nickname|${encoded.length}:${encoded}|`;
    const signature = createHmac('sha256', secret).update(prefix).digest('hex');

    expect(createSignedValue(secret, 'nickname', value, 1_700_000_000.9)).toBe(prefix + signature);
  });

  it('refuses an empty secret and a time that is not one', () => {
    expect(() => createSignedValue('', 'key', 'value')).toThrow(/secret/);
    expect(() => createSignedValue(SECRET, 'key', 'value', Number.NaN)).toThrow(/now/);
    expect(() => createSignedValue(SECRET, 'key', 'value', -1)).toThrow(/now/);
  });
});

describe('decodeSignedValue', () => {
  it('reads back what createSignedValue wrote, including non-ASCII and empty values', () => {
    for (const value of ['value', 'é', '日本語 🎉', '', 'a|b:c=d']) {
      const signed = createSignedValue(SECRET, 'key', value, PRESENT);
      expect(decode(signed)).toBe(value);
    }
  });

  it('reads a value signed by Tornado', () => {
    expect(decode(KNOWN + KNOWN_SIGNATURE)).toBe('value');
  });

  it('defaults to the current time', () => {
    const signed = createSignedValue(SECRET, 'key', 'now');
    expect(decodeSignedValue(SECRET, 'key', signed, 31)).toBe('now');
  });

  it('refuses a value signed for another name', () => {
    const signed = createSignedValue(SECRET, 'key1', 'value', PRESENT);
    expect(decode(signed, 'key2')).toBeNull();
    expect(decode(signed, 'key1')).toBe('value');
  });

  it('refuses a value signed with another secret', () => {
    const signed = createSignedValue('another secret', 'key', 'value', PRESENT);
    expect(decode(signed)).toBeNull();
  });

  it('refuses tampered fields (Tornado test_payload_tampering)', () => {
    expect(decode(`${KNOWN}${KNOWN_SIGNATURE}`)).toBe('value');
    // Key version changed.
    expect(decode(`2|1:1|10:1300000000|3:key|8:dmFsdWU=|${KNOWN_SIGNATURE}`)).toBeNull();
    // Length too short, then too long.
    expect(decode(`2|1:0|10:130000000|3:key|8:dmFsdWU=|${KNOWN_SIGNATURE}`)).toBeNull();
    expect(decode(`2|1:0|10:1300000000|3:keey|8:dmFsdWU=|${KNOWN_SIGNATURE}`)).toBeNull();
    // Another value with the old signature.
    expect(decode(`2|1:0|10:1300000000|3:key|8:dmFsdWF=|${KNOWN_SIGNATURE}`)).toBeNull();
  });

  it('refuses tampered signatures (Tornado test_signature_tampering)', () => {
    for (const signature of [
      '0'.repeat(32),
      '0'.repeat(64),
      `4${KNOWN_SIGNATURE.slice(1)}`,
      `${KNOWN_SIGNATURE.slice(0, -1)}3`,
      KNOWN_SIGNATURE.slice(0, -1),
      `${KNOWN_SIGNATURE}8`,
      KNOWN_SIGNATURE.toUpperCase(),
      '',
    ]) {
      expect(decode(KNOWN + signature)).toBeNull();
    }
  });

  it('refuses a value older than maxAgeDays', () => {
    const signed = createSignedValue(SECRET, 'key', 'value', PAST);
    expect(decode(signed, 'key', PAST)).toBe('value');
    expect(decode(signed, 'key', PRESENT, 31)).toBeNull();
    expect(decode(signed, 'key', PRESENT, 32)).toBe('value');
    expect(decode(signed, 'key', PAST + 60, 0)).toBeNull();
  });

  it('refuses a timestamp more than a few minutes in the future', () => {
    const soon = createSignedValue(SECRET, 'key', 'value', PRESENT + 60);
    const later = createSignedValue(SECRET, 'key', 'value', PRESENT + 86_400);
    expect(decode(soon)).toBe('value');
    expect(decode(later)).toBeNull();
  });

  it('returns null, without throwing, for malformed input', () => {
    const sign = (prefix: string): string =>
      prefix + createHmac('sha256', SECRET).update(prefix).digest('hex');
    const malformed = [
      '',
      '2',
      '2|',
      '1|1:0|10:1300000000|3:key|8:dmFsdWU=|',
      'dmFsdWU=|1300000000|31c934969f53e48164c50768b40cbd7e2daaaa4f', // version 1
      `3|1:0|10:1300000000|3:key|8:dmFsdWU=|${KNOWN_SIGNATURE}`,
      '2|1:0',
      '2|1:0|',
      '2|:0|10:1300000000|3:key|8:dmFsdWU=|',
      '2|x:0|10:1300000000|3:key|8:dmFsdWU=|',
      '2|-1:0|10:1300000000|3:key|8:dmFsdWU=|',
      '2|01:0|10:1300000000|3:key|8:dmFsdWU=|',
      '2|1:0|10:1300000000|3:key|8:dmFsdWU=',
      `2|1:0|99999999999999999999:1|${KNOWN_SIGNATURE}`,
      `2|1:0|10:1300000000|3:key|999999999:dmFsdWU=|${KNOWN_SIGNATURE}`,
      '|'.repeat(100),
      ':'.repeat(100),
      `${KNOWN}${KNOWN_SIGNATURE}\u0000`,
      `${KNOWN}${'é'.repeat(32)}`,
      '\ud800'.repeat(10),
      // Correctly signed, but with a field that is not what it should be.
      sign('2|1:x|10:1300000000|3:key|8:dmFsdWU=|'),
      sign('2|1:0|10:13000000xx|3:key|8:dmFsdWU=|'),
      sign('2|1:0|10:0130000000|3:key|8:dmFsdWU=|'),
      sign('2|1:0|10:1300000000|3:key|8:dmFs*WU=|'),
      sign('2|1:0|10:1300000000|3:key|7:dmFsdWU|'),
      sign(`2|1:0|10:1300000000|3:key|4:${Buffer.from([0xff, 0xfe]).toString('base64')}|`),
    ];
    for (const signed of malformed) {
      expect(decode(signed), JSON.stringify(signed)).toBeNull();
    }
  });

  it('returns null for nonsense arguments instead of throwing', () => {
    const signed = KNOWN + KNOWN_SIGNATURE;
    expect(decodeSignedValue('', 'key', signed, 31, PRESENT)).toBeNull();
    expect(decodeSignedValue(SECRET, 'key', signed, Number.NaN, PRESENT)).toBeNull();
    expect(decodeSignedValue(SECRET, 'key', signed, -1, PRESENT)).toBeNull();
    expect(decodeSignedValue(SECRET, 'key', signed, 31, Number.NaN)).toBeNull();
    expect(decodeSignedValue(SECRET, 'key', undefined as unknown as string, 31)).toBeNull();
  });

  it('handles huge hostile input in linear time', () => {
    const inputs = [
      `2|${'9'.repeat(5_000_000)}`,
      `2|1:0|${'1:a|'.repeat(1_000_000)}`,
      `2|1:0|10:1300000000|3:key|8:dmFsdWU=|${'a'.repeat(5_000_000)}`,
      `2|1:0|10:1300000000|3:key|4999999:${'A'.repeat(4_999_999)}|${KNOWN_SIGNATURE}`,
      '|'.repeat(5_000_000),
    ];
    const started = performance.now();
    for (const signed of inputs) expect(decode(signed)).toBeNull();
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
