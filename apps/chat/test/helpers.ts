import { type ClientConnection, HandshakeError, websocketConnect } from '@gale/client';
import { serve } from '@gale/test-utils';
import { type ChatApplication, type ChatOptions, createApplication } from '../server.js';

/** Where a chat server answers: `http://host:port` and `ws://host:port/chat`. */
export interface Endpoint {
  readonly http: string;
  readonly ws: string;
}

/** A chat application listening on 127.0.0.1 on a free port. */
export interface TestServer extends Endpoint {
  readonly app: ChatApplication;
  close(): Promise<void>;
}

/** Starts `createApplication(options)` (once its Redis, if any, is connected) on a free port. */
export async function startChat(options: ChatOptions = {}): Promise<TestServer> {
  const app = createApplication({ accessLog: false, cookieSecret: 'test secret', ...options });
  await app.ready;
  const { origin, ws } = await serve(app);
  return { app, http: origin, ws: ws('/chat'), close: () => app.close() };
}

/** The `_xsrf` cookie a browser holds (`_xsrf=…`), and the token it sends back. */
export interface Xsrf {
  readonly cookie: string;
  readonly token: string;
}

/** A new `_xsrf` cookie, from GET /login as the page gets it on load. */
export async function xsrfFor(server: Endpoint): Promise<Xsrf> {
  const response = await fetch(`${server.http}/login`);
  await response.body?.cancel();
  const cookie = response.headers
    .getSetCookie()
    .map((header) => header.split(';', 1)[0]!)
    .find((pair) => pair.startsWith('_xsrf='));
  if (cookie === undefined) throw new Error(`GET /login set no _xsrf cookie (${response.status})`);
  return { cookie, token: cookie.slice('_xsrf='.length) };
}

/**
 * The headers of a POST that passes the XSRF check, as the page sends them: `cookie` (if any)
 * with a fresh `_xsrf` cookie, and its token in `X-XSRFToken`.
 */
export async function postHeaders(
  server: Endpoint,
  cookie?: string | undefined,
): Promise<Record<string, string>> {
  const xsrf = await xsrfFor(server);
  return {
    Cookie: cookie ? `${cookie}; ${xsrf.cookie}` : xsrf.cookie,
    'X-XSRFToken': xsrf.token,
  };
}

/** The answer to a login: status, JSON body and the `nickname=…` cookie it set (if any). */
export interface LoginAnswer {
  readonly status: number;
  readonly body: { nickname?: string | null; message?: string };
  readonly cookie: string | undefined;
  readonly setCookie: string[];
}

/**
 * POST /login with a JSON body (or a form with `form: true`), optionally with a cookie, and with
 * the XSRF token as the page sends it.
 */
export async function login(
  server: Endpoint,
  nickname: unknown,
  options: { cookie?: string | undefined; form?: boolean } = {},
): Promise<LoginAnswer> {
  const headers: Record<string, string> = {
    'Content-Type': options.form ? 'application/x-www-form-urlencoded' : 'application/json',
    ...(await postHeaders(server, options.cookie)),
  };
  const body = options.form
    ? new URLSearchParams({ nickname: String(nickname) }).toString()
    : JSON.stringify({ nickname });
  const response = await fetch(`${server.http}/login`, { method: 'POST', headers, body });
  const setCookie = response.headers.getSetCookie();
  const cookie = setCookie.find((c) => c.startsWith('nickname='))?.split(';', 1)[0];
  return {
    status: response.status,
    body: (await response.json()) as LoginAnswer['body'],
    cookie,
    setCookie,
  };
}

/** Logs `nickname` in and returns its cookie; fails the test unless it got a 200. */
export async function cookieFor(server: Endpoint, nickname: string): Promise<string> {
  const answer = await login(server, nickname);
  if (answer.status !== 200 || answer.cookie === undefined) {
    throw new Error(`login ${nickname}: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return answer.cookie;
}

/** POST /logout with a cookie, and with the XSRF token as the page sends it. */
export async function logout(server: Endpoint, cookie: string): Promise<Response> {
  return fetch(`${server.http}/logout`, {
    method: 'POST',
    headers: await postHeaders(server, cookie),
  });
}

/** A frame from the server (loosely typed for assertions). */
export type Frame = { type: string } & Record<string, unknown>;

/** One tab: a WebSocket on /chat with the cookie, and the history it got on connecting. */
export interface Tab {
  readonly connection: ClientConnection;
  readonly history: Frame[];
  /** The next frame (fails after `timeoutMs`, 5 s by default, or if the connection closes). */
  next(timeoutMs?: number): Promise<Frame>;
  /**
   * Reads frames until one matches; returns it (earlier ones are dropped). Fails if none did
   * within `timeoutMs` (5 s by default).
   */
  until(predicate: (frame: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  send(frame: unknown): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens a tab with `cookie`. With `joining`, the nickname's first tab: the "joined" notice it
 * gets about itself is read too, so the next frame is whatever follows.
 */
export async function openTab(server: Endpoint, cookie: string, joining?: string): Promise<Tab> {
  const connection = await websocketConnect(server.ws, { headers: { Cookie: cookie } });
  const next = async (timeoutMs = 5000): Promise<Frame> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no frame within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const frame = await Promise.race([connection.readJson<Frame>(), timeout]);
      if (frame === null) throw new Error(`closed (${connection.closeCode})`);
      return frame;
    } finally {
      clearTimeout(timer);
    }
  };
  const first = await next();
  if (first.type !== 'history') {
    await connection.close().catch(() => {});
    throw new Error(`expected history first, got ${first.type}: ${JSON.stringify(first)}`);
  }
  const until = async (predicate: (frame: Frame) => boolean, timeoutMs = 5000): Promise<Frame> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await next(Math.max(1, deadline - Date.now()));
      if (predicate(frame)) return frame;
    }
  };
  if (joining !== undefined) {
    await until((frame) => frame.type === 'joined' && frame['nickname'] === joining);
  }
  return {
    connection,
    history: first['messages'] as Frame[],
    next,
    until,
    send: (frame) => connection.writeMessage(typeof frame === 'string' ? frame : (frame as object)),
    close: () => connection.close(),
  };
}

let unique = 0;

/** A nickname no other test uses (servers and Redis are shared by the tests of a file). */
export function nick(base: string): string {
  unique += 1;
  return `${base}${unique}`;
}

/** Matches a `message` frame with this text. */
export const isMessage =
  (text: string) =>
  (frame: Frame): boolean =>
    frame.type === 'message' && frame['text'] === text;

/** Matches a `joined` or `left` notice about this nickname. */
export const isNotice =
  (type: 'joined' | 'left', nickname: string) =>
  (frame: Frame): boolean =>
    frame.type === type && frame['nickname'] === nickname;

/** The status of a WebSocket handshake on /chat with `cookie` (none if undefined): 101, 401, … */
export async function handshakeStatus(
  server: Endpoint,
  cookie: string | undefined,
): Promise<number> {
  try {
    const connection = await websocketConnect(server.ws, {
      headers: cookie === undefined ? {} : { Cookie: cookie },
    });
    await connection.close();
    return 101;
  } catch (error) {
    if (error instanceof HandshakeError) return error.status;
    throw error;
  }
}
