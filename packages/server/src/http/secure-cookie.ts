import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';

const SECONDS_PER_DAY = 86_400;

/**
 * How far ahead of our clock a timestamp may be. Only a holder of the secret can sign one, so
 * this is about clocks: another server of the same app may run a little fast; a value from much
 * further ahead would outlive `maxAgeDays`, so it is refused.
 */
const MAX_CLOCK_SKEW_SECONDS = 300;

// Hex HMAC-SHA256.
const SIGNATURE_LENGTH = 64;

// Longer numbers than this cannot be exact in a double; no valid field needs one.
const MAX_DIGITS = 15;

const PIPE = 0x7c;
const COLON = 0x3a;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Signs `value` under `name` in Tornado's version 2 format (`create_signed_value`), so a cookie
 * set by Tornado and one set here are interchangeable when they share the secret:
 *
 * `2|1:0|10:<timestamp>|<len>:<name>|<len>:<base64 value>|<hex HMAC-SHA256 of all before>`
 *
 * The value is readable by anyone (base64, not encrypted); the signature only stops forgery.
 * Store the result (usually as a cookie named `name`) and read it back with `decodeSignedValue`.
 * Throws `InvalidArgumentError` for an empty secret or a `now` that is not a time.
 *
 * @param now the signing time in seconds since the epoch (tests pass a fixed one).
 */
export function createSignedValue(
  secret: string,
  name: string,
  value: string,
  now: number = Date.now() / 1000,
): string {
  if (secret === '') throw new InvalidArgumentError('the secret must not be empty');
  if (!Number.isFinite(now) || now < 0) {
    throw new InvalidArgumentError('now must be a non-negative number of seconds');
  }
  const timestamp = String(Math.floor(now));
  const encoded = Buffer.from(value, 'utf8').toString('base64');
  // Key version 0: Tornado's default, and the only one a single secret has.
  const toSign = `2|${field('0')}|${field(timestamp)}|${field(name)}|${field(encoded)}|`;
  return toSign + sign(secret, Buffer.from(toSign, 'utf8')).toString('latin1');
}

/**
 * Checks a value made by `createSignedValue` (or by Tornado with the same secret) and returns the
 * original string, or null when it is malformed, signed for another name, forged, older than
 * `maxAgeDays`, or dated more than a few minutes in the future. Never throws, whatever `signed`
 * holds, and runs in time linear in its length.
 *
 * A null means "no valid value": treat the user as not having one (Tornado's `get_signed_cookie`
 * returns None), never as an error to report.
 *
 * @param now the current time in seconds since the epoch (tests pass a fixed one).
 */
export function decodeSignedValue(
  secret: string,
  name: string,
  signed: string,
  maxAgeDays: number,
  now: number = Date.now() / 1000,
): string | null {
  if (typeof signed !== 'string' || secret === '') return null;
  if (!(maxAgeDays >= 0) || !Number.isFinite(now)) return null;
  const bytes = Buffer.from(signed, 'utf8');
  // Version 2 only: version 1 (no length prefixes) is what v2 was made to replace.
  if (bytes.length < 2 || bytes[0] !== 0x32 || bytes[1] !== PIPE) return null;

  const keyVersion = readField(bytes, 2);
  if (keyVersion === null || parseDecimal(bytes, keyVersion.start, keyVersion.end) === null) {
    return null;
  }
  const timestampField = readField(bytes, keyVersion.next);
  if (timestampField === null) return null;
  const nameField = readField(bytes, timestampField.next);
  if (nameField === null) return null;
  const valueField = readField(bytes, nameField.next);
  if (valueField === null) return null;

  // The signature covers everything up to and including the pipe after the value.
  const passed = bytes.subarray(valueField.next);
  if (passed.length !== SIGNATURE_LENGTH) return null;
  const expected = sign(secret, bytes.subarray(0, valueField.next));
  if (!timingSafeEqual(passed, expected)) return null;

  // Signed by us from here on; the checks below are about which value and when.
  if (!bytes.subarray(nameField.start, nameField.end).equals(Buffer.from(name, 'utf8'))) {
    return null;
  }
  const timestamp = parseDecimal(bytes, timestampField.start, timestampField.end);
  if (timestamp === null) return null;
  if (timestamp < now - maxAgeDays * SECONDS_PER_DAY) return null;
  if (timestamp > now + MAX_CLOCK_SKEW_SECONDS) return null;

  const encoded = bytes.toString('latin1', valueField.start, valueField.end);
  if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) return null;
  try {
    return UTF8.decode(Buffer.from(encoded, 'base64'));
  } catch {
    return null;
  }
}

function field(text: string): string {
  return `${Buffer.byteLength(text, 'utf8')}:${text}`;
}

// The hex digest as ASCII bytes, ready for timingSafeEqual against the bytes received.
function sign(secret: string, data: Uint8Array): Buffer {
  return Buffer.from(createHmac('sha256', secret).update(data).digest('hex'), 'latin1');
}

interface Field {
  readonly start: number;
  readonly end: number;
  /** Where the next field starts, past the pipe that ends this one. */
  readonly next: number;
}

// `<decimal length>:<that many bytes>|` at `pos`, as Tornado's `_consume_field`, or null.
function readField(bytes: Buffer, pos: number): Field | null {
  let colon = pos;
  while (colon < bytes.length && bytes[colon] !== COLON) {
    if (colon - pos >= MAX_DIGITS) return null;
    colon++;
  }
  if (colon >= bytes.length) return null;
  const length = parseDecimal(bytes, pos, colon);
  if (length === null) return null;
  const start = colon + 1;
  const end = start + length;
  if (end >= bytes.length || bytes[end] !== PIPE) return null;
  return { start, end, next: end + 1 };
}

// Digits only, no sign, no leading zero (Tornado writes none), at most MAX_DIGITS.
function parseDecimal(bytes: Buffer, start: number, end: number): number | null {
  const count = end - start;
  if (count < 1 || count > MAX_DIGITS) return null;
  if (count > 1 && bytes[start] === DIGIT_0) return null;
  let value = 0;
  for (let i = start; i < end; i++) {
    const byte = bytes[i] ?? 0;
    if (byte < DIGIT_0 || byte > DIGIT_9) return null;
    value = value * 10 + (byte - DIGIT_0);
  }
  return value;
}
