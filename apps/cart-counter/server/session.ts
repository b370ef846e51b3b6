import { randomUUID } from 'node:crypto';
import type { Handler, RequestHandler } from '@gale/server';

/** The signed cookie naming the caller's cart. */
export const SESSION_COOKIE = 'burts_session';

// A reservation lasts minutes; a session older than a day is simply replaced by a new one.
const SESSION_MAX_AGE_DAYS = 1;
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The caller's session id from its signed cookie, or null (none, forged, or too old). */
export function readSession(handler: Handler): string | null {
  const value = handler.getSecureCookie(SESSION_COOKIE, SESSION_MAX_AGE_DAYS);
  return value !== undefined && SESSION_ID.test(value) ? value : null;
}

/**
 * The caller's session id; a new one, set as a signed cookie on the response, if it has none.
 * The cookie is HttpOnly (scripts never see it), SameSite=Lax (other sites cannot make the
 * browser POST with it) and lasts for the browser session, so a reload keeps the cart.
 */
export function ensureSession(handler: RequestHandler): string {
  const existing = readSession(handler);
  if (existing !== null) return existing;
  const session = randomUUID();
  handler.setSecureCookie(SESSION_COOKIE, session, {
    httpOnly: true,
    sameSite: 'lax',
    expiresDays: null,
  });
  return session;
}
