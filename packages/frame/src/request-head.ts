import { HandshakeError } from './errors.js';

// A strict reader of HTTP/1.1 request heads (RFC 9112 §2-§5), for a server that reads its own
// opening handshakes instead of going through an HTTP library. Everything is a forward scan over
// bytes with `indexOf` and character-code loops: each byte is looked at a constant number of
// times, so no input (a huge header, thousands of headers, runs of whitespace) costs more than
// linear time. Bytes are read as Latin-1, as Node's HTTP parser reads them.

const HTAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const COLON = 0x3a;
const DEL = 0x7f;

/** `tchar` of RFC 9110 §5.6.2, indexed by byte: 1 for a token character. */
const TCHAR = new Uint8Array(256);
for (const char of "!#$%&'*+-.^_`|~0123456789") TCHAR[char.charCodeAt(0)] = 1;
for (let code = 0x41; code <= 0x5a; code++) {
  TCHAR[code] = 1; // A-Z
  TCHAR[code + 0x20] = 1; // a-z
}

/** `HTTP/1.1` as bytes: the only version this reader takes (RFC 6455 §4.1 asks for 1.1). */
const HTTP_11 = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e, 0x31];

/** The request line of a head: method and request-target, as sent. */
export interface RequestLine {
  /** The method, a token (`GET`); case-sensitive (RFC 9110 §9.1). */
  readonly method: string;
  /** The request-target as sent: for the requests a server routes, a path and query (`/chat?x=1`). */
  readonly target: string;
  /** The index just past the request line's CRLF, where the header fields start. */
  readonly end: number;
}

/**
 * Header fields in the shape of Node's `IncomingMessage.headers`: lower-case names; a field sent on
 * several lines joined with `, ` (`cookie` with `; `), except `set-cookie`, an array, and the
 * fields Node keeps only the first line of (`content-type`, `user-agent`, `authorization`, …).
 * The object inherits nothing, so a field named `__proto__` or `constructor` is just a field.
 */
export type RequestHeaders = Record<string, string | string[] | undefined>;

// The headers' class: its prototype is an object with no prototype, so the fields inherit nothing
// (no `__proto__` setter, no `constructor`), as with `Object.create(null)`, while each instance
// stays a fast object. `Object.create(null)` makes a dictionary-mode object, about 250 bytes more
// per request, which an open WebSocket keeps (`request.headers`) for its whole life.
const HeaderFields = function HeaderFields() {} as unknown as new () => RequestHeaders;
HeaderFields.prototype = Object.create(null);

/**
 * Reads the request line at the start of `bytes` (the first `length` of them): `method SP
 * request-target SP HTTP/1.1 CRLF` (RFC 9112 §3). Returns `undefined` while no line ending has
 * arrived, and `null` for a line this reader does not take (another version, a bare LF, a control
 * character, extra spaces): a server hands such a request to a general HTTP parser, which answers
 * it (400, 505) as it always did. The request-target must be visible ASCII.
 */
export function parseRequestLine(
  bytes: Uint8Array,
  length: number = bytes.length,
): RequestLine | null | undefined {
  const lf = bytes.indexOf(LF);
  if (lf === -1 || lf >= length) return undefined;
  // method SP target SP HTTP/1.1 CR LF: at least 1 + 1 + 1 + 1 + 8 + 1 bytes before the LF.
  if (lf < 13 || bytes[lf - 1] !== CR) return null;
  let i = 0;
  while (TCHAR[bytes[i]!] === 1) i++;
  if (i === 0 || bytes[i] !== SP) return null;
  const methodEnd = i;
  const targetStart = ++i;
  const versionStart = lf - 10; // the SP before HTTP/1.1
  for (; i < versionStart; i++) {
    const code = bytes[i]!;
    if (code <= SP || code >= DEL) return null;
  }
  if (i === targetStart || bytes[versionStart] !== SP) return null;
  for (let k = 0; k < 8; k++) if (bytes[versionStart + 1 + k] !== HTTP_11[k]) return null;
  return {
    // GET, the method of every upgrade, is the one string every request shares, not a copy each.
    method:
      methodEnd === 3 && bytes[0] === 0x47 && bytes[1] === 0x45 && bytes[2] === 0x54
        ? 'GET'
        : latin1(bytes, 0, methodEnd),
    target: latin1(bytes, targetStart, versionStart),
    end: lf + 1,
  };
}

/**
 * Finds the blank line that ends a request head: returns the index just past it (where a body or
 * the first WebSocket frames start), or -1 if it has not arrived among the first `length` bytes.
 * `from` lets a caller that reads the head in pieces scan only what is new: pass the previous
 * `length`; the scan looks back at most two bytes.
 *
 * @throws HandshakeError 400 (`ERR_HANDSHAKE_HEADER`) at a line ending that is a bare LF (RFC 9112
 *   §2.2: a recipient may accept one, Gale does not), which could otherwise hide a header from
 *   one parser and show it to another.
 */
export function findHeadEnd(
  bytes: Uint8Array,
  from: number = 0,
  length: number = bytes.length,
): number {
  let i = bytes.indexOf(LF, from);
  while (i !== -1 && i < length) {
    if (i === 0 || bytes[i - 1] !== CR) throw malformed('a line ends with a bare LF');
    if (i >= 3 && bytes[i - 2] === LF) return i + 1;
    i = bytes.indexOf(LF, i + 1);
  }
  return -1;
}

/**
 * Reads the header fields of a request head, from `start` (a {@link RequestLine}'s `end`) to `end`
 * (from {@link findHeadEnd}), into {@link RequestHeaders}. Each line is `field-name ":" OWS
 * field-value OWS CRLF` (RFC 9112 §5, RFC 9110 §5.5), the value trimmed of OWS.
 *
 * @throws HandshakeError 400 (`ERR_HANDSHAKE_HEADER`) for a name that is not a token (whitespace
 *   before the colon included, RFC 9112 §5.1), a line folded onto the previous one (obs-fold, RFC
 *   9112 §5.2), a control character in a value (NUL, a bare CR or LF: RFC 9110 §5.5), or a second
 *   `Host` line (RFC 9112 §3.2: "MUST respond with a 400").
 */
export function parseHeaderFields(bytes: Uint8Array, start: number, end: number): RequestHeaders {
  const headers = new HeaderFields();
  const last = end - 2; // the CRLF of the blank line
  let i = start;
  while (i < last) {
    // field-name: a token, then the colon at once.
    const nameStart = i;
    while (TCHAR[bytes[i]!] === 1) i++;
    if (i === nameStart) {
      throw malformed(
        bytes[i] === SP || bytes[i] === HTAB ? 'a folded header line' : 'an invalid header name',
      );
    }
    if (bytes[i] !== COLON) throw malformed('an invalid header name');
    const nameEnd = i++;
    while (bytes[i] === SP || bytes[i] === HTAB) i++;
    // field-value: HTAB, SP, VCHAR and obs-text up to the CRLF; anything else is a control.
    const valueStart = i;
    let valueEnd = i;
    for (;;) {
      const code = bytes[i]!;
      if (code === CR) break;
      if ((code < SP && code !== HTAB) || code === DEL) throw malformed('a control character');
      i++;
      if (code !== SP && code !== HTAB) valueEnd = i;
    }
    // findHeadEnd saw a LF after every CR it stopped at, but a CR inside a line is bare.
    if (bytes[i + 1] !== LF) throw malformed('a bare CR');
    i += 2;
    addField(
      headers,
      fieldName(bytes, nameStart, nameEnd),
      fieldValue(bytes, valueStart, valueEnd),
    );
  }
  return headers;
}

/** The head of a request: its line and header fields; `end` is where what follows it starts. */
export interface RequestHead {
  readonly method: string;
  readonly target: string;
  readonly headers: RequestHeaders;
  readonly end: number;
}

/**
 * Reads a whole request head at the start of `bytes`: {@link parseRequestLine},
 * {@link findHeadEnd} and {@link parseHeaderFields} in one call, for a head already read in full.
 * Returns `undefined` while the head is incomplete.
 *
 * @throws HandshakeError 400 (`ERR_HANDSHAKE_HEADER`) for a request line this reader does not
 *   take or a malformed header field.
 */
export function parseRequestHead(
  bytes: Uint8Array,
  length: number = bytes.length,
): RequestHead | undefined {
  const line = parseRequestLine(bytes, length);
  if (line === undefined) return undefined;
  if (line === null) throw malformed('an invalid request line');
  const end = findHeadEnd(bytes, line.end - 1, length);
  if (end === -1) return undefined;
  const headers = parseHeaderFields(bytes, line.end, end);
  return { method: line.method, target: line.target, headers, end };
}

function malformed(what: string): HandshakeError {
  return new HandshakeError('ERR_HANDSHAKE_HEADER', `Malformed request head: ${what}`, 400);
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buffer.toString('latin1', start, end);
}

// The header names an opening handshake carries, ready in lower case: a name that matches one
// (in any case) costs no new string.
const KNOWN_NAMES: readonly string[] = [
  'host',
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'origin',
  'user-agent',
  'cookie',
  'pragma',
  'cache-control',
  'accept-encoding',
  'accept-language',
  'authorization',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-real-ip',
];
const KNOWN_BY_LENGTH = byLength(KNOWN_NAMES);

/** `strings` grouped by length, to compare a run of bytes with those of its length only. */
function byLength(strings: readonly string[]): (string[] | undefined)[] {
  const groups: (string[] | undefined)[] = [];
  for (const string of strings) {
    const sameLength = groups[string.length] ?? [];
    sameLength.push(string);
    groups[string.length] = sameLength;
  }
  return groups;
}

/** The lower-case name of the token `bytes[start..end)`. */
function fieldName(bytes: Uint8Array, start: number, end: number): string {
  const candidates = KNOWN_BY_LENGTH[end - start];
  if (candidates !== undefined) {
    for (const name of candidates) {
      let k = 0;
      // A token byte ORed with 0x20 is its lower case for letters; other tchars equal themselves
      // or map outside the tchars a known name holds, so no two names are confused.
      while (k < name.length && (bytes[start + k]! | 0x20) === name.charCodeAt(k)) k++;
      if (k === name.length) return name;
    }
  }
  return latin1(bytes, start, end).toLowerCase();
}

// Header values that every opening handshake from a browser or a WebSocket library repeats, kept
// once: a value equal to one, byte for byte (values keep their case), costs no new string, so an
// idle connection's headers hold only what is its own (the key, the host, the origin).
const KNOWN_VALUES: readonly string[] = [
  'websocket',
  'Upgrade',
  'upgrade',
  'keep-alive, Upgrade',
  'Keep-Alive, Upgrade',
  '13',
  'permessage-deflate; client_max_window_bits',
  'permessage-deflate',
  'no-cache',
  'gzip, deflate, br',
  'gzip, deflate, br, zstd',
  'en-US,en;q=0.9',
];
const KNOWN_VALUES_BY_LENGTH = byLength(KNOWN_VALUES);

/** The value `bytes[start..end)`, as the known string it equals if it equals one. */
function fieldValue(bytes: Uint8Array, start: number, end: number): string {
  const candidates = KNOWN_VALUES_BY_LENGTH[end - start];
  if (candidates !== undefined) {
    for (const value of candidates) {
      let k = 0;
      while (k < value.length && bytes[start + k] === value.charCodeAt(k)) k++;
      if (k === value.length) return value;
    }
  }
  return latin1(bytes, start, end);
}

// Node keeps the first line of these and drops the rest (`IncomingMessage` `matchKnownFields`).
const FIRST_WINS: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

function addField(headers: RequestHeaders, name: string, value: string): void {
  const previous = headers[name];
  if (name === 'set-cookie') {
    if (previous === undefined) headers[name] = [value];
    else (previous as string[]).push(value);
    return;
  }
  if (previous === undefined) {
    headers[name] = value;
    return;
  }
  if (name === 'host') throw malformed('more than one Host header');
  if (FIRST_WINS.has(name)) return;
  headers[name] = `${previous}${name === 'cookie' ? '; ' : ', '}${value}`;
}
