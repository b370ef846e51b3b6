import { type SerializeOptions, stringifySetCookie } from 'cookie';
import { InvalidArgumentError } from '../errors.js';

const MS_PER_DAY = 86_400_000;

/**
 * Attributes of a cookie set with `setCookie`; `path` defaults to `/`, `httpOnly` to true and
 * `sameSite` to `'lax'`. Pass the options object to `setCookie` or `clearCookie`.
 */
export interface CookieOptions {
  readonly domain?: string;
  readonly path?: string;
  readonly expires?: Date;
  /** Seconds until the cookie expires (`Max-Age`). */
  readonly maxAge?: number;
  /** Days until the cookie expires (Tornado's `expires_days`); sets `Expires`. */
  readonly expiresDays?: number;
  readonly httpOnly?: boolean;
  readonly secure?: boolean;
  readonly sameSite?: boolean | 'lax' | 'strict' | 'none';
  readonly partitioned?: boolean;
  readonly priority?: 'low' | 'medium' | 'high';
}

/** Attributes of a cookie set with `setSecureCookie`. */
export interface SecureCookieOptions extends Omit<CookieOptions, 'expiresDays'> {
  /** Days until the cookie expires: 30 by default, as Tornado; null for a session cookie. */
  readonly expiresDays?: number | null;
}

/**
 * A `Set-Cookie` header value for `name` (with the `cookie` package), and the key under which a
 * response keeps it: the same name, path and domain set again replace it. `path` defaults to
 * `/`, `httpOnly` to true and `sameSite` to `'lax'`; `encode` replaces URL-encoding. Throws
 * `InvalidArgumentError` for a name or attribute the cookie grammar refuses.
 */
export function serializeCookie(
  name: string,
  value: string,
  options: CookieOptions,
  encode?: (text: string) => string,
): { readonly key: string; readonly header: string } {
  const { expiresDays, ...attributes } = options;
  const serialize: SerializeOptions = {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    ...attributes,
  };
  if (expiresDays !== undefined)
    serialize.expires = new Date(Date.now() + expiresDays * MS_PER_DAY);
  if (encode) serialize.encode = encode;
  let header: string;
  try {
    header = stringifySetCookie(name, value, serialize);
  } catch (error) {
    // The cookie package throws a TypeError naming the part its grammar refuses.
    const why = error instanceof Error ? error.message : String(error);
    throw new InvalidArgumentError(`cannot set cookie ${JSON.stringify(name)}: ${why}`, {
      cause: error,
    });
  }
  return { key: `${name};${serialize.path ?? ''};${serialize.domain ?? ''}`, header };
}
