import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** The cookie, form field and JSON property that carry the XSRF token, as Tornado's. */
export const XSRF_NAME = '_xsrf';

/** The headers a script may send the token in instead (`X-XSRFToken` first), as Tornado's. */
export const XSRF_HEADERS = ['x-xsrftoken', 'x-csrftoken'] as const;

const TOKEN_BYTES = 16;
const MASK_BYTES = 4;

/** A token as the cookie holds it: the secret bytes and when they were made. */
export interface XsrfToken {
  readonly token: Buffer;
  /** Seconds since the epoch when the token was made. */
  readonly timestamp: number;
}

/** A new random token made at `nowMs`. */
export function newXsrfToken(nowMs: number): XsrfToken {
  return { token: randomBytes(TOKEN_BYTES), timestamp: Math.floor(nowMs / 1000) };
}

/**
 * Tornado's version 2 token format, `2|<mask>|<token XOR mask>|<timestamp>` (hex), with a fresh
 * random mask each time: the same secret never appears twice in a page, so compression cannot
 * leak it (the BREACH attack). Tornado and Gale read each other's tokens.
 */
export function encodeXsrfToken({ token, timestamp }: XsrfToken): string {
  const mask = randomBytes(MASK_BYTES);
  return `2|${mask.toString('hex')}|${xor(token, mask).toString('hex')}|${timestamp}`;
}

/** The token in `text` (a cookie, form field or header), or null if it is not one. */
export function decodeXsrfToken(text: string | undefined): XsrfToken | null {
  if (text === undefined) return null;
  const parts = text.split('|');
  if (parts.length !== 4 || parts[0] !== '2') return null;
  const [, maskHex = '', maskedHex = '', timestampText = ''] = parts;
  if (!/^[0-9a-f]{8}$/i.test(maskHex) || !/^(?:[0-9a-f]{2}){16}$/i.test(maskedHex)) return null;
  if (!/^\d{1,12}$/.test(timestampText)) return null;
  const token = xor(Buffer.from(maskedHex, 'hex'), Buffer.from(maskHex, 'hex'));
  return { token, timestamp: Number(timestampText) };
}

/** Whether two tokens hold the same secret, compared in constant time. */
export function sameXsrfToken(a: XsrfToken, b: XsrfToken): boolean {
  return a.token.length === b.token.length && timingSafeEqual(a.token, b.token);
}

/**
 * Why a state-changing request counts as coming from another origin, or null when it does not.
 *
 * `Sec-Fetch-Site`, which browsers set and pages cannot, decides when present: `same-origin` and
 * `none` (typed in, a bookmark) pass; `same-site` (another port or subdomain of this site) and
 * `cross-site` are refused. Without it, an `Origin` header must name the request's own host
 * (`Host`), as `checkOrigin` does for WebSockets; `Origin: null` (a sandboxed frame, a redirect
 * chain) is refused. An origin in `allowed` always passes. A request with neither header (curl,
 * a server) passes: the token check still applies to it.
 */
export function crossOriginReason(
  headers: IncomingHttpHeaders,
  allowed: readonly string[],
): string | null {
  const origin = headers.origin;
  if (origin !== undefined && allowed.includes(origin)) return null;
  const site = headers['sec-fetch-site'];
  if (site !== undefined) {
    if (site === 'same-origin' || site === 'none') return null;
    return `a ${site} request (Sec-Fetch-Site) from ${origin ?? 'another origin'}`;
  }
  if (origin === undefined) return null;
  let host = '';
  try {
    host = new URL(origin).host;
  } catch {
    // 'null' and anything else that is not a URL: not this origin.
  }
  if (host !== '' && host.toLowerCase() === (headers.host ?? '').toLowerCase()) return null;
  return `a request from ${origin}`;
}

function xor(data: Buffer, mask: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] ?? 0) ^ (mask[i % mask.length] ?? 0);
  return out;
}
