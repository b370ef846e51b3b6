import { createHmac } from 'node:crypto';
import { websocketConnect } from '@gale/client';
import { createSignedValue } from '@gale/server';
import { ManualClock } from '@gale/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PRESENCE_GRACE_MS } from '../server/chat-room.js';
import { MemoryNicknameRegistry } from '../server/nickname-registry.js';
import { MemoryPresence } from '../server/presence.js';
import {
  cookieFor,
  handshakeStatus,
  isMessage,
  isNotice,
  login,
  logout,
  nick,
  openTab,
  postHeaders,
  startChat,
  type Tab,
  type TestServer,
  xsrfFor,
} from './helpers.js';

let server: TestServer;
const tabs: Tab[] = [];
let emojiSuffix = 0;

/** A user's only tab: logs `name` in, connects, and reads its own "joined" notice. */
async function user(name: string): Promise<Tab> {
  const opened = await openTab(server, await cookieFor(server, name), name);
  tabs.push(opened);
  return opened;
}

async function tab(cookie: string): Promise<Tab> {
  const opened = await openTab(server, cookie);
  tabs.push(opened);
  return opened;
}

beforeAll(async () => {
  // On a clock that never moves: no name lapses while a test runs, however loaded the machine.
  // The tests of the release delay start their own server and step its clock.
  server = await startChat({ clock: new ManualClock() });
});

afterEach(async () => {
  await Promise.all(tabs.splice(0).map((t) => t.close()));
});

afterAll(async () => {
  await server.close();
});

describe('POST /login', () => {
  it('answers 200 with the nickname and a signed, HttpOnly nickname cookie (JSON body)', async () => {
    const name = nick('ada');
    const answer = await login(server, `  ${name}  `);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ nickname: name });
    expect(answer.cookie).toMatch(/^nickname=2\|1:0\|/);
    const header = answer.setCookie.find((c) => c.startsWith('nickname='))!;
    expect(header).toMatch(/HttpOnly/i);
    expect(header).toMatch(/SameSite=Lax/i);
  });

  it('accepts a form body too', async () => {
    const name = nick('form');
    const answer = await login(server, name, { form: true });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ nickname: name });
  });

  it.each([
    ['empty', '', 'Please enter a nickname'],
    ['blank', '   \t ', 'Please enter a nickname'],
    ['25 characters', 'x'.repeat(25), 'Nickname too long (max 24 characters)'],
    ['a control character', 'bell\u0007', 'Nicknames cannot contain control characters'],
    ['a newline inside', 'two\nlines', 'Nicknames cannot contain control characters'],
    ['a bidi override', 'evil\u202Eeman', 'Nicknames cannot contain control characters'],
    ['a zero-width space', 'zero\u200Bwidth', 'Nicknames cannot contain control characters'],
    ['a trailing Hangul filler', 'Ada\u3164', 'Nicknames cannot contain invisible characters'],
    ['only the braille blank', '\u2800', 'Nicknames cannot contain invisible characters'],
    [
      'two spaces in a row',
      'Ada  Lovelace',
      'Nicknames can only have single, ordinary spaces between words',
    ],
    [
      'only combining marks',
      '\u0301\u0301',
      'Nicknames cannot start with an accent or other combining mark',
    ],
    [
      'a combining overlay',
      'A\u0336da',
      'Nicknames cannot contain marks drawn through or around characters',
    ],
    ['the name the page uses for you', 'You', 'This nickname is reserved, please choose another'],
    ['"You" with a Cyrillic o', 'Y\u043Eu', 'This nickname is reserved, please choose another'],
  ])('refuses a nickname with %s: 400 with a message', async (_, nickname, message) => {
    const answer = await login(server, nickname);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ status: 400, message });
    expect(answer.cookie).toBeUndefined();
  });

  it('refuses a body without a nickname, or with an object for one, with 400', async () => {
    const missing = await fetch(`${server.http}/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(await postHeaders(server)) },
      body: '{}',
    });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ status: 400, message: 'Please enter a nickname' });
    expect((await login(server, { evil: true })).status).toBe(400);
    const broken = await fetch(`${server.http}/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(await postHeaders(server)) },
      body: '{"nickname": ',
    });
    expect(broken.status).toBe(400);
  });

  it('counts characters, not UTF-16 units: 24 emoji are a valid nickname', async () => {
    const answer = await login(server, '🦊'.repeat(23) + String(emojiSuffix++ % 10));
    expect(answer.status).toBe(200);
  });

  it('refuses a nickname in use with 409, case-insensitively, and still serves others', async () => {
    const name = nick('Grace');
    expect((await login(server, name)).status).toBe(200);
    for (const taken of [name, name.toUpperCase(), name.toLowerCase(), ` ${name} `]) {
      const answer = await login(server, taken);
      expect(answer.status).toBe(409);
      expect(answer.body).toEqual({
        status: 409,
        message: 'Nickname already in use, please choose another',
      });
      expect(answer.cookie).toBeUndefined();
    }
    // Full-width letters are the same nickname too (NFKC).
    const fullWidth = [...name]
      .map((c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0))
      .join('');
    expect(fullWidth).not.toBe(name);
    expect((await login(server, fullWidth)).status).toBe(409);
    expect((await login(server, nick('other'))).status).toBe(200);
  });

  it('accepts ordinary names in any script, as typed', async () => {
    for (const base of ['Ada Lovelace', 'Zoë', 'Ngọc Ánh', '李小龙', 'हिन्दी', '❤️ Ada']) {
      const name = nick(base);
      const answer = await login(server, name);
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ nickname: name });
    }
  });

  it('refuses a nickname that looks like one in use with 409, and says so', async () => {
    const name = nick('Ada');
    expect((await login(server, name)).status).toBe(200);
    // Cyrillic А (U+0410), then a whole word of Cyrillic look-alikes and a zero.
    for (const lookalike of [`\u0410${name.slice(1)}`, `\u0410d\u0430${name.slice(3)}`]) {
      const answer = await login(server, lookalike);
      expect(answer.status).toBe(409);
      expect(answer.body).toEqual({
        status: 409,
        message: 'Nickname looks too much like one already in use, please choose another',
      });
      expect(answer.cookie).toBeUndefined();
    }
    const bob = nick('Bob');
    expect((await login(server, bob)).status).toBe(200);
    expect((await login(server, bob.replace('o', '0'))).status).toBe(409);
    // The same name in another case is still "in use", not "looks like".
    expect((await login(server, name.toUpperCase())).body.message).toBe(
      'Nickname already in use, please choose another',
    );
  });

  it('lets exactly one of ten concurrent logins with one nickname win', async () => {
    const name = nick('race');
    const answers = await Promise.all(Array.from({ length: 10 }, () => login(server, name)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, ...Array<number>(9).fill(409)]);
  });

  it('lets the same browser log in again with its own cookie and keep its name', async () => {
    const name = nick('again');
    const cookie = await cookieFor(server, name);
    const again = await login(server, name, { cookie });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ nickname: name });
    // Someone else still cannot.
    expect((await login(server, name)).status).toBe(409);
  });

  it('frees the old nickname when a browser logs in under a new one', async () => {
    const first = nick('old');
    const cookie = await cookieFor(server, first);
    expect((await login(server, nick('new'), { cookie })).status).toBe(200);
    expect((await login(server, first)).status).toBe(200);
  });
});

describe('GET /login', () => {
  it('says who the browser is signed in as, or null', async () => {
    const name = nick('who');
    const cookie = await cookieFor(server, name);
    const signedIn = await fetch(`${server.http}/login`, { headers: { Cookie: cookie } });
    expect(await signedIn.json()).toEqual({ nickname: name });
    expect(signedIn.headers.get('cache-control')).toBe('no-store');
    const anonymous = await fetch(`${server.http}/login`);
    expect(await anonymous.json()).toEqual({ nickname: null });
  });
});

describe('POST /logout', () => {
  it('frees the nickname and clears the cookie', async () => {
    const name = nick('leaver');
    const cookie = await cookieFor(server, name);
    const response = await logout(server, cookie);
    expect(response.status).toBe(204);
    expect(response.headers.getSetCookie().join()).toMatch(/^nickname=;.*Max-Age=0/i);
    // Free at once for someone else, whose claim then makes the old cookie worthless.
    expect((await login(server, name)).status).toBe(200);
    expect(await handshakeStatus(server, cookie)).toBe(401);
    expect((await login(server, name, { cookie })).status).toBe(409);
  });

  it('closes every tab of the user (4001) and announces one "left"', async () => {
    const watcher = await user(nick('watcher'));
    const name = nick('multi');
    const cookie = await cookieFor(server, name);
    const one = await tab(cookie);
    const two = await tab(cookie);
    await watcher.until((f) => f.type === 'joined' && f['nickname'] === name);
    expect((await logout(server, cookie)).status).toBe(204);
    expect(await one.connection.readMessage().then(drain(one))).toBeNull();
    expect(await two.connection.readMessage().then(drain(two))).toBeNull();
    expect(one.connection.closeCode).toBe(4001);
    expect(two.connection.closeCode).toBe(4001);
    expect(await watcher.next()).toEqual({ type: 'left', nickname: name });
    // Exactly one: the next frame is the watcher's own message, not a second "left".
    await watcher.send({ type: 'message', text: 'after logout' });
    expect(await watcher.next()).toMatchObject({ type: 'message', text: 'after logout' });
  });

  it('revokes the cookie: a saved copy signs nobody in again, even with its nickname free', async () => {
    const name = nick('revoked');
    const copy = await cookieFor(server, name);
    expect((await logout(server, copy)).status).toBe(204);
    // Nobody took the nickname, so only the revocation refuses the copy.
    const whoAmI = async (cookie: string) =>
      (await fetch(`${server.http}/login`, { headers: { Cookie: cookie } })).json();
    expect(await whoAmI(copy)).toEqual({ nickname: null });
    expect(await handshakeStatus(server, copy)).toBe(401);
    // Logging in with it is a fresh login: a new session, which the copy does not become.
    const fresh = await login(server, name, { cookie: copy });
    expect(fresh.status).toBe(200);
    expect(fresh.cookie).toBeDefined();
    expect(fresh.cookie).not.toBe(copy);
    expect(await whoAmI(fresh.cookie!)).toEqual({ nickname: name });
    expect(await whoAmI(copy)).toEqual({ nickname: null });
    expect(await handshakeStatus(server, copy)).toBe(401);
    expect((await login(server, name, { cookie: copy })).status).toBe(409);
    // The fresh session is a session like any other: its tab is let in.
    const t = await tab(fresh.cookie!);
    expect(t.history).toBeInstanceOf(Array);
  });

  it('lets the nickname log in afresh after a logout, as a new session', async () => {
    const name = nick('again');
    const first = await cookieFor(server, name);
    await logout(server, first);
    const second = await cookieFor(server, name);
    expect(await handshakeStatus(server, second)).toBe(101);
    expect(await handshakeStatus(server, first)).toBe(401);
  });

  it('answers 204 without a cookie too', async () => {
    const headers = await postHeaders(server);
    expect((await fetch(`${server.http}/logout`, { method: 'POST', headers })).status).toBe(204);
  });
});

describe('XSRF protection (POST /login, POST /logout)', () => {
  /** A raw POST with exactly these headers (a form body: what a forged page would send). */
  async function rawPost(
    path: '/login' | '/logout',
    headers: Record<string, string>,
    body = '',
  ): Promise<{ status: number; message: string; setCookie: string[] }> {
    const response = await fetch(`${server.http}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
      body,
    });
    const text = await response.text();
    const message = text === '' ? '' : String((JSON.parse(text) as { message?: unknown }).message);
    return { status: response.status, message, setCookie: response.headers.getSetCookie() };
  }

  async function signedInAs(cookie: string): Promise<string | null> {
    const response = await fetch(`${server.http}/login`, { headers: { Cookie: cookie } });
    return ((await response.json()) as { nickname: string | null }).nickname;
  }

  it('GET /login sets the _xsrf cookie once: readable by the page, SameSite=Lax, not Secure over http', async () => {
    const first = await fetch(`${server.http}/login`);
    const header = first.headers.getSetCookie().find((c) => c.startsWith('_xsrf='))!;
    expect(header).toMatch(/^_xsrf=2\|[0-9a-f]{8}\|[0-9a-f]{32}\|\d+; Path=\//);
    expect(header).toMatch(/; SameSite=Lax/i);
    expect(header).not.toMatch(/HttpOnly|Secure/i);
    const again = await fetch(`${server.http}/login`, {
      headers: { Cookie: header.split(';', 1)[0]! },
    });
    expect(again.headers.getSetCookie()).toEqual([]);
  });

  it('refuses a login without the token with 403: nobody is signed in, no cookie is set', async () => {
    const name = nick('forged');
    const { cookie: xsrf } = await xsrfFor(server);
    const noToken = await rawPost('/login', { Cookie: xsrf }, `nickname=${name}`);
    expect(noToken.status).toBe(403);
    expect(noToken.message).toMatch(/_xsrf/);
    expect(noToken.setCookie).toEqual([]);
    const noCookie = await rawPost('/login', {}, `nickname=${name}`);
    expect(noCookie).toMatchObject({ status: 403, setCookie: [] });
    const other = await xsrfFor(server);
    const mismatch = await rawPost(
      '/login',
      { Cookie: xsrf, 'X-XSRFToken': other.token },
      `nickname=${name}`,
    );
    expect(mismatch).toMatchObject({ status: 403, setCookie: [] });
    // The nickname was never claimed: it is free, and the token makes the same login work.
    const answer = await login(server, name);
    expect(answer.status).toBe(200);
    expect(answer.cookie).toBeDefined();
  });

  it('refuses a logout without the token with 403: still signed in, tabs open, cookie kept', async () => {
    const name = nick('stays');
    const cookie = await cookieFor(server, name);
    const own = await tab(cookie);
    const { cookie: xsrf } = await xsrfFor(server);

    const refused = await rawPost('/logout', { Cookie: `${cookie}; ${xsrf}` });
    expect(refused.status).toBe(403);
    expect(refused.setCookie).toEqual([]);
    // A logout would have closed the tab (4001) and freed the nickname.
    await own.send({ type: 'message', text: 'still here' });
    expect(await own.until(isMessage('still here'))).toMatchObject({ from: name });
    expect((await login(server, name)).status).toBe(409);
    expect(await signedInAs(cookie)).toBe(name);

    // With the token it logs out.
    expect((await logout(server, cookie)).status).toBe(204);
    expect(await own.connection.readMessage().then(drain(own))).toBeNull();
    expect(own.connection.closeCode).toBe(4001);
  });

  it.each([
    ['an Origin of another host', { Origin: 'http://evil.example' }],
    ['an Origin of another port', { Origin: 'http://127.0.0.1:1' }],
    ['Origin: null', { Origin: 'null' }],
    ['Sec-Fetch-Site: same-site', { 'Sec-Fetch-Site': 'same-site' }],
    ['Sec-Fetch-Site: cross-site', { 'Sec-Fetch-Site': 'cross-site' }],
  ])('refuses a login and a logout with %s even with a valid token', async (_name, extra) => {
    const name = nick('crossed');
    const refusedLogin = await rawPost(
      '/login',
      { ...(await postHeaders(server)), ...extra },
      `nickname=${name}`,
    );
    expect(refusedLogin.status).toBe(403);
    expect(refusedLogin.message).toMatch(/Cross-origin POST refused/);
    expect(refusedLogin.setCookie).toEqual([]);

    const member = nick('member');
    const cookie = await cookieFor(server, member);
    const refusedLogout = await rawPost('/logout', {
      ...(await postHeaders(server, cookie)),
      ...extra,
    });
    expect(refusedLogout).toMatchObject({ status: 403, setCookie: [] });
    // Still held: a logout would have freed it.
    expect((await login(server, member)).status).toBe(409);
    // Its own origin, as a browser says it, passes.
    const own = await rawPost(
      '/login',
      { ...(await postHeaders(server)), Origin: server.http, 'Sec-Fetch-Site': 'same-origin' },
      `nickname=${name}`,
    );
    expect(own.status).toBe(200);
  });
});

/**
 * A server of its own on a clock the test steps, with its presence at hand, and `graceOver`:
 * once the user's last tab closed on the server (what the test cannot see but in presence), the
 * clock moves past the grace period, after which the room announces that the user left.
 */
async function steppedServer(options: { nicknameReleaseAfterMs?: number } = {}) {
  const clock = new ManualClock();
  const registry = new MemoryNicknameRegistry({ clock });
  const presence = new MemoryPresence();
  const own = await startChat({ clock, registry, presence, ...options });
  /** Resolves once the server has `tabs` tabs of the nickname, and is done with the others. */
  const closedDownTo = async (nickname: string, tabs: number): Promise<void> => {
    await expect.poll(() => presence.count(nickname)).toBe(tabs);
    await own.app.room.settled();
  };
  const graceOver = async (nickname: string): Promise<void> => {
    await closedDownTo(nickname, 0);
    clock.advance(DEFAULT_PRESENCE_GRACE_MS);
  };
  return { own, clock, registry, closedDownTo, graceOver };
}

// Reads what is left until the connection closed (null).
function drain(t: Tab) {
  return async (first: unknown): Promise<null> => {
    let message = first;
    while (message !== null) message = await t.connection.readMessage();
    return null;
  };
}

describe('WS /chat: who may connect', () => {
  it('refuses a connection without the cookie with 401, before the upgrade', async () => {
    expect(await handshakeStatus(server, undefined)).toBe(401);
  });

  it('refuses forged cookies with 401', async () => {
    const name = nick('forge');
    const cookie = await cookieFor(server, name);
    const value = decodeURIComponent(cookie.slice('nickname='.length));
    // The signature of another secret, a tampered value, an unsigned value.
    const otherSecret = createSignedValue(
      'not the secret',
      'nickname',
      JSON.stringify({ nickname: name, id: 'x' }),
    );
    const tampered = value.replace(
      /\|[0-9a-f]{64}$/,
      `|${createHmac('sha256', 'x').update('y').digest('hex')}`,
    );
    for (const forged of [
      otherSecret,
      tampered,
      name,
      JSON.stringify({ nickname: name, id: 'x' }),
    ]) {
      expect(await handshakeStatus(server, `nickname=${forged}`)).toBe(401);
    }
    // A correctly signed cookie that holds no session (an older format) is no better.
    expect(
      await handshakeStatus(
        server,
        `nickname=${createSignedValue('test secret', 'nickname', name)}`,
      ),
    ).toBe(401);
    // And the server still serves the real one.
    const real = await tab(cookie);
    expect(real.history).toBeInstanceOf(Array);
  });

  it('refuses a signed cookie for a nickname someone else now holds', async () => {
    const name = nick('stolen');
    const mine = await cookieFor(server, name);
    await logout(server, mine);
    await cookieFor(server, name);
    expect(await handshakeStatus(server, mine)).toBe(401);
  });

  it('refuses a cross-origin page with 403', async () => {
    const cookie = await cookieFor(server, nick('origin'));
    await expect(
      websocketConnect(server.ws, { headers: { Cookie: cookie }, origin: 'https://evil.example' }),
    ).rejects.toMatchObject({ status: 403 });
  });
});

describe('WS /chat: the room', () => {
  it('broadcasts a message to everyone, the sender included, with from and an ISO time', async () => {
    const ada = nick('ada');
    const bob = nick('bob');
    const adaTab = await user(ada);
    const bobTab = await user(bob);
    const before = Date.now();
    await adaTab.send({ type: 'message', text: 'hello, bob' });
    const ids = new Set<unknown>();
    for (const t of [adaTab, bobTab]) {
      const frame = await t.until(isMessage('hello, bob'));
      expect(frame).toEqual({
        type: 'message',
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        from: ada,
        text: 'hello, bob',
        at: expect.any(String),
      });
      const at = frame['at'] as string;
      expect(new Date(at).toISOString()).toBe(at);
      expect(Date.parse(at)).toBeGreaterThanOrEqual(before - 1000);
      ids.add(frame['id']);
    }
    // One message, one id: a page that also finds it in a history shows it once.
    expect(ids.size).toBe(1);
  });

  it('sends the last 50 messages (oldest first) to a newcomer', async () => {
    const talker = await user(nick('talker'));
    const texts = Array.from({ length: 60 }, (_, i) => `history ${i + 1}`);
    for (const text of texts) await talker.send({ type: 'message', text });
    await talker.until(isMessage('history 60'));
    const late = await user(nick('late'));
    expect(late.history).toHaveLength(50);
    expect(late.history.map((m) => m['text'])).toEqual(texts.slice(10));
    expect(late.history[0]).toMatchObject({
      type: 'message',
      from: expect.any(String),
      at: expect.any(String),
    });
  });

  it('renders nothing: markup round-trips as the literal text', async () => {
    const xss = '<img src=x onerror=alert(1)>';
    const sender = await user(nick('xss'));
    await sender.send({ type: 'message', text: xss });
    const frame = await sender.until(isMessage(xss));
    expect(frame['text']).toBe(xss);
    const late = await user(nick('reader'));
    expect(late.history.at(-1)).toMatchObject({ text: xss });
  });

  it('refuses a message over 2,000 characters with an error frame, and keeps the connection', async () => {
    const sender = await user(nick('long'));
    await sender.send({ type: 'message', text: 'x'.repeat(2001) });
    expect(await sender.next()).toEqual({
      type: 'error',
      reason: 'Message too long (max 2000 characters)',
    });
    // 2,000 characters, each two UTF-16 units, are within the limit.
    const longest = '🙂'.repeat(2000);
    await sender.send({ type: 'message', text: longest });
    expect(await sender.next()).toMatchObject({ type: 'message', text: longest });
  });

  it.each([
    ['invalid JSON', '{"type": "message", ', 'Invalid JSON'],
    ['a JSON array', '[1, 2]', 'Expected a JSON object with a "type"'],
    ['an unknown type', JSON.stringify({ type: 'shout', text: 'hi' }), 'Unknown message type'],
    ['no text', JSON.stringify({ type: 'message' }), 'A message needs a "text" string'],
    [
      'a number for text',
      JSON.stringify({ type: 'message', text: 42 }),
      'A message needs a "text" string',
    ],
    ['blank text', JSON.stringify({ type: 'message', text: '  ' }), 'Message is empty'],
  ])('answers %s with an error frame and keeps serving', async (_, raw, reason) => {
    const sender = await user(nick('bad'));
    await sender.send(raw);
    expect(await sender.next()).toEqual({ type: 'error', reason });
    await sender.send({ type: 'message', text: 'fine now' });
    expect(await sender.next()).toMatchObject({ type: 'message', text: 'fine now' });
  });

  it('answers a binary frame with an error frame', async () => {
    const sender = await user(nick('bin'));
    await sender.connection.writeMessage(new Uint8Array([1, 2, 3]));
    expect(await sender.next()).toEqual({
      type: 'error',
      reason: 'Binary messages are not supported; send JSON text',
    });
    const other = await user(nick('other'));
    await other.send({ type: 'message', text: 'others are served' });
    expect(await other.until(isMessage('others are served'))).toBeTruthy();
  });
});

describe('presence: joined and left', () => {
  it('counts tabs: joined on the first, left once the last one has been closed for the grace period', async () => {
    const { own, clock, closedDownTo, graceOver } = await steppedServer();
    try {
      const watcher = await openTab(own, await cookieFor(own, 'watcher'), 'watcher');
      const name = nick('tabs');
      const cookie = await cookieFor(own, name);
      const first = await openTab(own, cookie);
      expect(await watcher.until((f) => f.type !== 'message')).toEqual({
        type: 'joined',
        nickname: name,
      });
      const second = await openTab(own, cookie);
      await first.close();
      await closedDownTo(name, 1);
      // No second "joined" and no "left", even long after: the next frame is this marker.
      clock.advance(3 * DEFAULT_PRESENCE_GRACE_MS);
      await second.send({ type: 'message', text: 'still here' });
      expect(await watcher.next()).toMatchObject({
        type: 'message',
        from: name,
        text: 'still here',
      });
      await second.close();
      await graceOver(name);
      expect(await watcher.next()).toEqual({ type: 'left', nickname: name });
      await watcher.close();
    } finally {
      await own.close();
    }
  });

  it('announces neither "left" nor "joined" when a tab reloads within the grace period', async () => {
    const { own, clock, closedDownTo } = await steppedServer();
    try {
      const watcher = await openTab(own, await cookieFor(own, 'watcher'), 'watcher');
      const name = nick('reloader');
      const cookie = await cookieFor(own, name);
      const before = await openTab(own, cookie, name);
      await watcher.until(isNotice('joined', name));
      await before.close();
      await closedDownTo(name, 0);
      clock.advance(DEFAULT_PRESENCE_GRACE_MS - 1000);
      const after = await openTab(own, cookie);
      clock.advance(3 * DEFAULT_PRESENCE_GRACE_MS);
      await after.send({ type: 'message', text: 'reloaded' });
      expect(await watcher.next()).toMatchObject({ type: 'message', from: name, text: 'reloaded' });
      await after.close();
      await watcher.close();
    } finally {
      await own.close();
    }
  });
});

describe('a nickname with no tab open and no logout', () => {
  it('is freed once its user has been gone for the release delay (here 1 s)', async () => {
    const { own, clock, graceOver } = await steppedServer({ nicknameReleaseAfterMs: 1000 });
    try {
      const watcher = await openTab(own, await cookieFor(own, 'watcher'), 'watcher');
      const name = nick('gone');
      const cookie = await cookieFor(own, name);
      await (await openTab(own, cookie, name)).close();
      await graceOver(name);
      // Once the room says so, the hold runs from now.
      await watcher.until(isNotice('left', name));
      clock.advance(999);
      expect((await login(own, name)).status).toBe(409);
      clock.advance(1);
      const taken = await login(own, name);
      expect(taken.status).toBe(200);
      // Someone else's now, held by their open tab: the first browser's cookie no longer lets it in.
      const holder = await openTab(own, taken.cookie!);
      expect(await handshakeStatus(own, cookie)).toBe(401);
      await holder.close();
      await watcher.close();
    } finally {
      await own.close();
    }
  });

  it('comes back to the same browser if nobody took it meanwhile', async () => {
    const { own, clock, registry, graceOver } = await steppedServer({ nicknameReleaseAfterMs: 50 });
    try {
      const watcher = await openTab(own, await cookieFor(own, 'watcher'), 'watcher');
      const cookie = await cookieFor(own, 'back');
      await (await openTab(own, cookie, 'back')).close();
      await graceOver('back');
      await watcher.until(isNotice('left', 'back'));
      // Freed once the hold lapsed: a claim by anyone else would now succeed (undone at once).
      const isFree = async (): Promise<boolean> => {
        const claimed = await registry.claim('back', 'probe');
        if (claimed) await registry.release('back', 'probe');
        return claimed;
      };
      clock.advance(49);
      expect(await isFree()).toBe(false);
      clock.advance(1);
      expect(await isFree()).toBe(true);
      const again = await openTab(own, cookie, 'back');
      expect((await login(own, 'back')).status).toBe(409);
      await again.close();
      await watcher.close();
    } finally {
      await own.close();
    }
  });
});

describe('with a long release delay', () => {
  let slow: TestServer;

  beforeAll(async () => {
    slow = await startChat({ clock: new ManualClock(), nicknameReleaseAfterMs: 60_000 });
  });

  afterAll(async () => {
    await slow.close();
  });

  it('keeps a nickname whose tab closed (a reload) for its browser, and no one else', async () => {
    const cookie = await cookieFor(slow, 'reloader');
    await (await openTab(slow, cookie)).close();
    expect((await login(slow, 'reloader')).status).toBe(409);
    const reloaded = await openTab(slow, cookie);
    expect(reloaded.history).toEqual([]);
    await reloaded.close();
  });
});
