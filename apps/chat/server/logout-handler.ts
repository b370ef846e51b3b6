import { RequestHandler } from '@gale/server';
import { roomOf } from './chat-room.js';
import { orUnavailable } from './errors.js';
import { decodeSession, SESSION_COOKIE } from './session.js';

/**
 * POST /logout: frees the caller's nickname, announces that it left, closes its sockets (every
 * tab, close code 4001) and clears the cookie. 204, also when it was not signed in; 503 (and
 * the cookie kept) while the store (Redis) cannot be reached; 403 before anything runs when it
 * lacks the `_xsrf` cookie's token or comes from another origin (the application's `xsrfCookies`
 * setting): nobody is signed out and no cookie is cleared.
 */
export class LogoutHandler extends RequestHandler {
  override async post(): Promise<void> {
    const session = decodeSession(this.getSecureCookie(SESSION_COOKIE));
    if (session !== null) await orUnavailable(roomOf(this.options).signOut(session));
    this.clearCookie(SESSION_COOKIE);
    this.setStatus(204);
  }
}
