import { randomBytes } from 'node:crypto';
import { validateNickname } from './nickname.js';

/** The name of the signed cookie that says who the browser is. */
export const SESSION_COOKIE = 'nickname';

/**
 * Who a browser is: its nickname and a random session id. The id is the nickname's owner in the
 * registry, so a copy of an old cookie for a nickname that was freed and taken by someone else
 * does not sign in as them.
 */
export interface Session {
  readonly nickname: string;
  readonly id: string;
}

/** A new session id: 128 random bits, URL-safe. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

/** The cookie value for a session (signed by the caller with `setSecureCookie`). */
export function encodeSession(session: Session): string {
  return JSON.stringify({ nickname: session.nickname, id: session.id });
}

/**
 * The session in a cookie value already verified by `getSecureCookie`, or null when it does not
 * hold one (an older format, say): the browser then simply is not signed in.
 */
export function decodeSession(value: string | undefined): Session | null {
  if (value === undefined) return null;
  let data: unknown;
  try {
    data = JSON.parse(value);
  } catch {
    return null;
  }
  if (typeof data !== 'object' || data === null) return null;
  const { nickname, id } = data as Record<string, unknown>;
  if (typeof nickname !== 'string' || typeof id !== 'string' || id === '') return null;
  const check = validateNickname(nickname);
  if (!check.ok || check.nickname !== nickname) return null;
  return { nickname, id };
}
