import { HTTPError, RequestHandler } from '@gale/server';
import { roomOf } from './chat-room.js';
import { orUnavailable } from './errors.js';
import { decodeSession, encodeSession, SESSION_COOKIE } from './session.js';

/**
 * POST /login: JSON or form `{nickname}` → 200 `{nickname}` with the signed `nickname` cookie;
 * 400 `{status, message}` for an invalid nickname, 409 when it is taken; 403 before anything
 * runs when it lacks the `_xsrf` cookie's token or comes from another origin (the application's
 * `xsrfCookies` setting): nobody is signed in and no cookie is set.
 * GET /login: `{nickname}` this browser is signed in as (its cookie is valid and the nickname
 * still its own, or free again and now claimed back, unless that session logged out), else
 * `{nickname: null}`; the page asks on
 * load so that a reload goes straight back into the room. It also sets the `_xsrf` cookie when
 * missing, whose token the page sends back with every POST.
 * Both answer 503 `{status, message}` while the store (Redis) cannot be reached.
 */
export class LoginHandler extends RequestHandler {
  override async get(): Promise<void> {
    this.setHeader('Cache-Control', 'no-store');
    // Read for its effect: sets the _xsrf cookie if the browser has none (the page reads it).
    void this.xsrfToken;
    const session = decodeSession(this.getSecureCookie(SESSION_COOKIE));
    const isSignedIn =
      session !== null && (await orUnavailable(roomOf(this.options).resume(session)));
    this.write({ nickname: isSignedIn ? session.nickname : null });
  }

  override async post(): Promise<void> {
    const nickname = (await this.getBodyArguments('nickname')).at(-1);
    if (nickname === undefined) throw new HTTPError(400, 'Please enter a nickname');
    const current = decodeSession(this.getSecureCookie(SESSION_COOKIE));
    const result = await orUnavailable(roomOf(this.options).signIn(nickname, current));
    // Throwing ends the request here: nothing after a refusal runs (the seed went on to log in).
    if (!result.ok) throw new HTTPError(result.status, result.reason);
    this.setSecureCookie(SESSION_COOKIE, encodeSession(result.session));
    this.write({ nickname: result.session.nickname });
  }
}
