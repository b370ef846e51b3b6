import { InvalidArgumentError } from './errors.js';
import type { ExtensionOffer } from './extension.js';

// Every parser here is a single left-to-right scan over character codes: the cursor only moves
// forward, so each character is read once (twice inside a quoted value with escapes, which is
// copied out after it has been checked). Regex-based splitting of these headers is how ws
// got CVE-2021-32640 (a long run of spaces between two tokens made it quadratic); an index that
// only ever increases cannot backtrack, whatever the input.

const HTAB = 0x09;
const SP = 0x20;
const DQUOTE = 0x22;
const COMMA = 0x2c;
const SLASH = 0x2f;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;

/**
 * `tchar` from RFC 7230 §3.2.6, indexed by character code: 1 for a token character, 0 otherwise.
 * Codes above 255 read `undefined`, which is not 1, so non-Latin-1 input needs no extra check.
 */
const TCHAR = new Uint8Array(256);
for (const char of "!#$%&'*+-.^_`|~0123456789") TCHAR[char.charCodeAt(0)] = 1;
for (let code = 0x41; code <= 0x5a; code++) {
  TCHAR[code] = 1; // A-Z
  TCHAR[code + 0x20] = 1; // a-z
}

/** The index of the first character at or after `start` that is not OWS (SP or HTAB). */
function skipOws(text: string, start: number): number {
  let i = start;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (code !== SP && code !== HTAB) break;
    i++;
  }
  return i;
}

/** The index of the first character at or after `start` that is not a `tchar`. */
function tokenEnd(text: string, start: number): number {
  let i = start;
  while (i < text.length && TCHAR[text.charCodeAt(i)] === 1) i++;
  return i;
}

/** A `SyntaxError` naming the offending character by position, without echoing the header. */
function unexpected(what: string, text: string, i: number): SyntaxError {
  const found =
    i < text.length ? `${JSON.stringify(text.charAt(i))} at index ${i}` : 'end of input';
  return new SyntaxError(`Invalid ${what}: unexpected ${found}`);
}

/** Decodes the ASCII bytes that {@link unescapeQuoted} collects (ASCII is valid UTF-8). */
const ASCII = new TextDecoder();

/**
 * The content of a quoted-string already checked to be tchar and backslash-tchar pairs, without
 * its `escapes` backslashes. A backslash is not a tchar, so every one is an escape. Writing the
 * bytes out once keeps this linear with a small constant, where joining one slice per escape (or
 * `replaceAll`) costs an allocation per backslash.
 */
function unescapeQuoted(text: string, start: number, end: number, escapes: number): string {
  const bytes = new Uint8Array(end - start - escapes);
  let length = 0;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code !== BACKSLASH) bytes[length++] = code;
  }
  return ASCII.decode(bytes);
}

/**
 * Whether `value` is an RFC 7230 §3.2.6 `token` (`1*tchar`), as required of subprotocol names
 * (RFC 6455 §4.1), extension names and parameters (§9.1) and header field names.
 */
export function isToken(value: string): boolean {
  return value.length > 0 && tokenEnd(value, 0) === value.length;
}

/**
 * The scanner behind {@link parseTokenList} and {@link parseUpgrade}: `#element` from RFC 7230 §7,
 * where an element is a token, or `token "/" token` when `allowVersion` is set.
 */
function parseList(value: string, what: string, allowVersion: boolean): string[] {
  const items: string[] = [];
  let i = skipOws(value, 0);
  while (i < value.length) {
    // RFC 7230 §7: "a recipient MUST accept empty list elements" — `a, , b` and `, a,` included.
    if (value.charCodeAt(i) === COMMA) {
      i = skipOws(value, i + 1);
      continue;
    }
    const start = i;
    i = tokenEnd(value, i);
    if (i === start) throw unexpected(what, value, i);
    if (allowVersion && value.charCodeAt(i) === SLASH) {
      const versionStart = i + 1;
      i = tokenEnd(value, versionStart);
      if (i === versionStart) throw unexpected(what, value, i);
    }
    items.push(value.slice(start, i));
    i = skipOws(value, i);
    if (i < value.length) {
      // Anything but a comma here — `b  x` in CVE-2021-32640 — is a malformed list.
      if (value.charCodeAt(i) !== COMMA) throw unexpected(what, value, i);
      i = skipOws(value, i + 1);
    }
  }
  return items;
}

/**
 * Parse a comma-separated list of tokens (`#token`, RFC 7230 §7), such as `Connection` or
 * `Sec-WebSocket-Protocol`. OWS around elements is allowed and empty elements are skipped, so
 * `' a ,, b, '` gives `['a', 'b']` and `''` gives `[]`; the caller enforces `1#token` where the
 * grammar requires at least one element, and compares case-insensitively where the field does
 * (`Connection`), since elements are returned as sent.
 *
 * Runs in time linear in `value.length`, whatever the input (CVE-2021-32640).
 *
 * @throws SyntaxError if an element is not a token (including whitespace inside an element, as in
 *   `a b`); the handshake turns that into a 400 response.
 */
export function parseTokenList(value: string): string[] {
  return parseList(value, 'token list', false);
}

/**
 * Parse an `Upgrade` header (RFC 7230 §6.7: `Upgrade = 1#protocol`, where
 * `protocol = protocol-name ["/" protocol-version]`), so that `h2c, websocket` and `HTTP/2.0`
 * parse. Elements are returned as sent; compare them case-insensitively with `websocket`.
 *
 * @throws SyntaxError if an element is malformed; the handshake treats that as no `websocket`.
 */
export function parseUpgrade(value: string): string[] {
  return parseList(value, 'Upgrade header', true);
}

/**
 * Parse `Sec-WebSocket-Extensions` (RFC 6455 §9.1) into offers, in order:
 *
 * ```
 * extension-list = 1#extension
 * extension      = extension-token *( ";" extension-param )
 * extension-param = token [ "=" (token | quoted-string) ]
 * ```
 *
 * OWS is allowed around `,`, `;` and `=`. Quoted values are unescaped and, as §9.1 requires,
 * "the value after quoted-string unescaping MUST conform to the 'token' ABNF". Several header
 * lines (an array, as Node gives for `headersDistinct`) are one list joined with commas, as
 * RFC 7230 §3.2.2 allows. `undefined` or `[]` (no header) gives `[]`.
 *
 * The result is only syntax: the caller (the permessage-deflate negotiator) decides which offers
 * it accepts, and refuses duplicate or unknown parameters itself (RFC 7692 §7.1).
 *
 * Runs in time linear in the input length, whatever the input (CVE-2021-32640).
 *
 * @throws SyntaxError if the header is malformed or holds no extension at all (`1#extension`);
 *   the server answers 400 and the client fails the connection.
 */
export function parseExtensions(value: string | readonly string[] | undefined): ExtensionOffer[] {
  if (value === undefined || (typeof value !== 'string' && value.length === 0)) return [];
  const text = typeof value === 'string' ? value : value.join(',');
  const what = 'Sec-WebSocket-Extensions';
  const offers: ExtensionOffer[] = [];
  let i = skipOws(text, 0);
  while (i < text.length) {
    if (text.charCodeAt(i) === COMMA) {
      i = skipOws(text, i + 1);
      continue;
    }
    const nameStart = i;
    i = tokenEnd(text, i);
    if (i === nameStart) throw unexpected(what, text, i);
    const name = text.slice(nameStart, i);
    const params: [string, string | true][] = [];
    i = skipOws(text, i);
    while (text.charCodeAt(i) === SEMICOLON) {
      i = skipOws(text, i + 1);
      const paramStart = i;
      i = tokenEnd(text, i);
      if (i === paramStart) throw unexpected(what, text, i);
      const param = text.slice(paramStart, i);
      let paramValue: string | true = true;
      i = skipOws(text, i);
      if (text.charCodeAt(i) === EQUALS) {
        i = skipOws(text, i + 1);
        if (text.charCodeAt(i) === DQUOTE) {
          // quoted-string (RFC 7230 §3.2.6) whose unescaped content must be a token, so the only
          // characters allowed inside are tchar and a backslash followed by a tchar.
          const valueStart = i + 1;
          let escapes = 0;
          i = valueStart;
          for (;;) {
            const code = text.charCodeAt(i);
            if (code === DQUOTE) break;
            if (code === BACKSLASH) {
              escapes++;
              i++;
            }
            if (TCHAR[text.charCodeAt(i)] !== 1) throw unexpected(what, text, i);
            i++;
          }
          if (i === valueStart) throw unexpected(what, text, i);
          paramValue =
            escapes === 0
              ? text.slice(valueStart, i)
              : unescapeQuoted(text, valueStart, i, escapes);
          i++; // The closing quote.
        } else {
          const valueStart = i;
          i = tokenEnd(text, i);
          if (i === valueStart) throw unexpected(what, text, i);
          paramValue = text.slice(valueStart, i);
        }
        i = skipOws(text, i);
      }
      params.push([param, paramValue]);
    }
    offers.push({ name, params });
    if (i < text.length) {
      if (text.charCodeAt(i) !== COMMA) throw unexpected(what, text, i);
      i = skipOws(text, i + 1);
    }
  }
  if (offers.length === 0) throw new SyntaxError(`Invalid ${what}: no extension`);
  return offers;
}

/**
 * Serialize offers for a `Sec-WebSocket-Extensions` header, as `name; param=value; flag, other`.
 * Values are always written as bare tokens, which §9.1 makes equivalent to their quoted form.
 * Returns `''` for no offers; the caller then omits the header.
 *
 * @throws InvalidArgumentError if a name or value is not a token, since no peer could parse it
 *   and it could otherwise smuggle CR/LF into the handshake.
 */
export function serializeExtensions(offers: readonly ExtensionOffer[]): string {
  const parts: string[] = [];
  for (const { name, params } of offers) {
    if (!isToken(name)) {
      throw new InvalidArgumentError(`Extension name ${JSON.stringify(name)} is not a token`);
    }
    let part = name;
    for (const [param, value] of params) {
      if (!isToken(param) || (value !== true && !isToken(value))) {
        throw new InvalidArgumentError(
          `Parameter ${JSON.stringify(param)} of extension ${name} is not a token or has a non-token value`,
        );
      }
      part += value === true ? `; ${param}` : `; ${param}=${value}`;
    }
    parts.push(part);
  }
  return parts.join(', ');
}
