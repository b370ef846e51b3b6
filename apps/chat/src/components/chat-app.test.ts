import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LOGIN_REFUSED, LOGOUT_REFUSED } from './chat-app.js';
import './chat-app.js';

// The server is faked: `fetch` answers from `routes`, and a fake WebSocket lets the test play
// /chat. The `_xsrf` cookie is a real cookie of the test page, which a route may set (as the
// server's Set-Cookie would) or the test clear.
const TOKEN = '2|0a0b0c0d|00112233445566778899aabbccddeeff|1700000000';
const NEW_TOKEN = '2|01020304|ffeeddccbbaa99887766554433221100|1700000001';

async function setXsrfCookie(value: string | null): Promise<void> {
  if (value === null) await cookieStore.delete('_xsrf');
  else await cookieStore.set({ name: '_xsrf', value, path: '/', sameSite: 'lax' });
}

/** A stand-in for the browser's WebSocket: the test plays the server. */
class FakeWebSocket {
  static instances: FakeWebSocket[] = [];
  /** Whether the next sockets select gale.v1 (when offered), as the chat server does. */
  static speaksGale = false;
  readonly url: string;
  readonly protocols: readonly string[];
  readonly sent: string[] = [];
  binaryType = 'blob';
  bufferedAmount = 0;
  protocol = '';
  readyState = 0;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;

  constructor(url: string, protocols: string | string[] = []) {
    this.url = url;
    this.protocols = typeof protocols === 'string' ? [protocols] : protocols;
    if (FakeWebSocket.speaksGale && this.protocols.includes('gale.v1')) this.protocol = 'gale.v1';
    FakeWebSocket.instances.push(this);
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.(new Event('open'));
    });
  }

  send(data: string): void {
    this.sent.push(data);
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.(new CloseEvent('close', { code, reason, wasClean: true })));
  }

  /** The server sends a frame (on a gale.v1 socket: written directly to this one). */
  receive(frame: object): void {
    const data = JSON.stringify(frame);
    this.raw(this.protocol === 'gale.v1' ? `\n${data}` : data);
  }

  /** gale.v1: the server sends a frame published to the room topic at offset `offset`. */
  publish(offset: number, frame: object): void {
    this.raw(`${JSON.stringify(['chat:room', 'E1', offset])}\n${JSON.stringify(frame)}`);
  }

  /** gale.v1: a control (`position`, `gap`) about the room topic. */
  control(control: object): void {
    this.raw(`${JSON.stringify({ topic: 'chat:room', ...control })}\n`);
  }

  raw(data: string): void {
    this.onmessage?.(new MessageEvent('message', { data }));
  }

  /** The server closes the connection. */
  serverClose(code: number, reason: string): void {
    this.readyState = 3;
    this.onclose?.(new CloseEvent('close', { code, reason, wasClean: true }));
  }
}

type Route = (init: RequestInit | undefined) => Response | Promise<Response>;
let routes: Record<string, Route>;
let requests: { key: string; body: string | undefined; xsrf?: string | undefined }[];

function json(status: number, body: object): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

beforeEach(async () => {
  await setXsrfCookie(TOKEN); // as the load's GET /login left it
  FakeWebSocket.instances = [];
  FakeWebSocket.speaksGale = false;
  requests = [];
  routes = { 'GET /login': () => json(200, { nickname: null }) };
  vi.stubGlobal('WebSocket', FakeWebSocket);
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      const key = `${init?.method ?? 'GET'} ${url}`;
      requests.push({
        key,
        body: init?.body as string | undefined,
        xsrf: new Headers(init?.headers).get('X-XSRFToken') ?? undefined,
      });
      const route = routes[key];
      if (route === undefined) throw new TypeError(`no route for ${key}`);
      return route(init);
    }),
  );
});

afterEach(async () => {
  document.body.replaceChildren();
  vi.unstubAllGlobals();
  await setXsrfCookie(null);
});

async function fixture(): Promise<HTMLElementTagNameMap['chat-app']> {
  const el = document.createElement('chat-app');
  document.body.append(el);
  await vi.waitFor(() =>
    expect(el.shadowRoot!.querySelector('login-form, message-list')).not.toBeNull(),
  );
  return el;
}

async function submitLogin(el: HTMLElement, nickname: string): Promise<void> {
  const form = el.shadowRoot!.querySelector('login-form')!;
  await form.updateComplete;
  form.shadowRoot!.querySelector('input')!.value = nickname;
  form.shadowRoot!.querySelector('button')!.click();
}

async function enterRoom(
  el: HTMLElementTagNameMap['chat-app'],
  nickname: string,
): Promise<FakeWebSocket> {
  routes['POST /login'] = () => json(200, { nickname });
  await submitLogin(el, nickname);
  await vi.waitFor(() => expect(FakeWebSocket.instances.at(-1)?.readyState).toBe(1));
  return FakeWebSocket.instances.at(-1)!;
}

function list(el: HTMLElementTagNameMap['chat-app']) {
  return el.shadowRoot!.querySelector('message-list')!;
}

describe('<chat-app>', () => {
  it('starts at the login form when the browser is not signed in, without a socket', async () => {
    const el = await fixture();
    expect(el.shadowRoot!.querySelector('login-form')).not.toBeNull();
    expect(FakeWebSocket.instances).toHaveLength(0);
  });

  it('goes straight into the room when the cookie is still good (a reload)', async () => {
    routes['GET /login'] = () => json(200, { nickname: 'ada' });
    const el = await fixture();
    expect(el.shadowRoot!.querySelector('.who')!.textContent).toBe('Signed in as ada');
    expect(FakeWebSocket.instances[0]!.url).toBe(`ws://${location.host}/chat`);
  });

  it('stays at the login form, showing why, when the nickname is taken', async () => {
    const el = await fixture();
    routes['POST /login'] = () =>
      json(409, { status: 409, message: 'Nickname already in use, please choose another' });
    const form = el.shadowRoot!.querySelector('login-form')!;
    await form.updateComplete;
    // Joining from the button, as a keyboard user would: Join is disabled while the page asks.
    form.shadowRoot!.querySelector('button')!.focus();
    await submitLogin(el, 'ada');
    await vi.waitFor(() =>
      expect(form.shadowRoot!.querySelector('[role="alert"]')!.textContent).toBe(
        'Nickname already in use, please choose another',
      ),
    );
    // The focus is back in the nickname box, which the refusal describes.
    await vi.waitFor(() =>
      expect(form.shadowRoot!.activeElement).toBe(form.shadowRoot!.querySelector('input')),
    );
    // The seed's bug: it went on into the room after showing the hint.
    expect(el.shadowRoot!.querySelector('message-list')).toBeNull();
    expect(FakeWebSocket.instances).toHaveLength(0);
    expect(requests.at(-1)).toEqual({
      key: 'POST /login',
      body: '{"nickname":"ada"}',
      xsrf: TOKEN,
    });
  });

  it('enters the room on 200 and shows history, messages, notices and errors from the server', async () => {
    const el = await fixture();
    const ws = await enterRoom(el, 'ada');
    const at = '2026-03-01T14:05:00.000Z';
    ws.receive({
      type: 'history',
      messages: [{ type: 'message', from: 'bob', text: 'earlier', at }],
    });
    ws.receive({ type: 'joined', nickname: 'ada' });
    ws.receive({ type: 'message', from: 'ada', text: '<img src=x onerror=alert(1)>', at });
    ws.receive({ type: 'left', nickname: 'bob' });
    await el.updateComplete;
    const messages = list(el);
    await messages.updateComplete;
    const items = [...messages.shadowRoot!.querySelectorAll('li')];
    expect(items.map((li) => li.className.trim())).toEqual([
      'message theirs',
      'notice',
      'message mine',
      'notice',
    ]);
    expect(items[2]!.querySelector('.bubble')!.textContent).toBe('<img src=x onerror=alert(1)>');
    expect(messages.shadowRoot!.querySelector('img')).toBeNull();
    // The list was told that the first line came from a history (not to be read out).
    expect(messages.historyVersion).toBe(1);

    ws.receive({ type: 'error', reason: 'Message too long (max 2000 characters)' });
    await el.updateComplete;
    const form = el.shadowRoot!.querySelector('message-form')!;
    await form.updateComplete;
    expect(form.shadowRoot!.querySelector('[role="alert"]')!.textContent).toBe(
      'Message too long (max 2000 characters)',
    );
  });

  it('sends what is typed as a message frame', async () => {
    const el = await fixture();
    const ws = await enterRoom(el, 'ada');
    const form = el.shadowRoot!.querySelector('message-form')!;
    await form.updateComplete;
    form.shadowRoot!.querySelector('input')!.value = 'hello';
    form.shadowRoot!.querySelector('button')!.click();
    await vi.waitFor(() => expect(ws.sent).toEqual(['{"type":"message","text":"hello"}']));
  });

  it('Leave closes the socket, logs out and returns to the login form', async () => {
    const el = await fixture();
    const ws = await enterRoom(el, 'ada');
    routes['POST /logout'] = () => new Response(null, { status: 204 });
    const leave = [...el.shadowRoot!.querySelectorAll('button')].find(
      (b) => b.textContent === 'Leave',
    )!;
    leave.click();
    await vi.waitFor(() => expect(requests.at(-1)?.key).toBe('POST /logout'));
    expect(requests.at(-1)!.xsrf).toBe(TOKEN);
    expect(ws.readyState).toBe(3);
    expect(el.shadowRoot!.querySelector('login-form')!.notice).toBe('You left the room.');
  });

  it('without the _xsrf cookie (cleared since the load), gets one from GET /login before logging in', async () => {
    const el = await fixture();
    await setXsrfCookie(null);
    routes['GET /login'] = async () => {
      await setXsrfCookie(NEW_TOKEN);
      return json(200, { nickname: null });
    };
    await enterRoom(el, 'ada');
    expect(requests.slice(1).map((r) => [r.key, r.xsrf])).toEqual([
      ['GET /login', undefined],
      ['POST /login', NEW_TOKEN],
    ]);
  });

  it('after a 403, gets a fresh cookie and logs in on the second try', async () => {
    const el = await fixture();
    let posts = 0;
    routes['GET /login'] = async () => {
      await setXsrfCookie(NEW_TOKEN);
      return json(200, { nickname: null });
    };
    routes['POST /login'] = () =>
      ++posts === 1
        ? json(403, { status: 403, message: 'XSRF cookie does not match POST argument' })
        : json(200, { nickname: 'ada' });
    await submitLogin(el, 'ada');
    await vi.waitFor(() => expect(FakeWebSocket.instances.at(-1)?.readyState).toBe(1));
    expect(requests.slice(1).map((r) => [r.key, r.xsrf])).toEqual([
      ['POST /login', TOKEN],
      ['GET /login', undefined],
      ['POST /login', NEW_TOKEN],
    ]);
  });

  it('says plainly that a login was refused when a second 403 follows, and stays at the form', async () => {
    const el = await fixture();
    routes['POST /login'] = () =>
      json(403, { status: 403, message: 'Cross-origin POST refused: a request from …' });
    await submitLogin(el, 'ada');
    const form = el.shadowRoot!.querySelector('login-form')!;
    await vi.waitFor(() =>
      expect(form.shadowRoot!.querySelector('[role="alert"]')!.textContent).toBe(LOGIN_REFUSED),
    );
    expect(requests.map((r) => r.key)).toEqual([
      'GET /login',
      'POST /login',
      'GET /login',
      'POST /login',
    ]);
    expect(FakeWebSocket.instances).toHaveLength(0);
    expect(form.busy).toBe(false);
  });

  it('says the user is still signed in when the logout is refused twice (403)', async () => {
    const el = await fixture();
    await enterRoom(el, 'ada');
    routes['POST /logout'] = () => json(403, { status: 403, message: "'_xsrf' cookie missing" });
    const leave = [...el.shadowRoot!.querySelectorAll('button')].find(
      (b) => b.textContent === 'Leave',
    )!;
    leave.click();
    const form = () => el.shadowRoot!.querySelector('login-form')!;
    await vi.waitFor(() => expect(form().notice).toBe(LOGOUT_REFUSED));
    expect(requests.filter((r) => r.key === 'POST /logout')).toHaveLength(2);
    await form().updateComplete;
    expect(form().shadowRoot!.querySelector('[role="status"]')!.textContent).toBe(LOGOUT_REFUSED);
  });

  it('returns to the login form when another tab logged out (close code 4001)', async () => {
    const el = await fixture();
    const ws = await enterRoom(el, 'ada');
    ws.serverClose(4001, 'Logged out');
    await vi.waitFor(() => expect(el.shadowRoot!.querySelector('login-form')).not.toBeNull());
    expect(el.shadowRoot!.querySelector('login-form')!.notice).toBe(
      'You left the room in another tab.',
    );
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('returns to the login form when a lost connection finds the session gone', async () => {
    const el = await fixture();
    const ws = await enterRoom(el, 'ada');
    ws.serverClose(1006, '');
    await vi.waitFor(() => expect(el.shadowRoot!.querySelector('login-form')).not.toBeNull());
    expect(el.shadowRoot!.querySelector('login-form')!.notice).toBe(
      'Your session has ended. Please join again.',
    );
  });

  describe('resuming the room after a lost connection (gale.v1)', () => {
    const at = '2026-03-01T14:05:00.000Z';
    const said = (id: string) => ({ type: 'message', id, from: 'bob', text: id, at });
    const lines = (el: HTMLElementTagNameMap['chat-app']) =>
      [...list(el).shadowRoot!.querySelectorAll('li')].map(
        (li) => li.querySelector('.bubble')?.textContent ?? li.textContent!.trim(),
      );

    /** In the room on a gale.v1 socket that got its history (`a`), a notice and `b` (offset 2). */
    async function inRoom() {
      FakeWebSocket.speaksGale = true;
      // Still signed in when the page checks, after the connection was lost.
      routes['GET /login'] = () => json(200, { nickname: 'ada' });
      const el = await fixture();
      await vi.waitFor(() => expect(FakeWebSocket.instances.at(-1)?.readyState).toBe(1));
      const ws = FakeWebSocket.instances.at(-1)!;
      ws.control({ type: 'position', epoch: 'E1', offset: 0 });
      ws.receive({ type: 'history', messages: [said('a')] });
      ws.publish(1, { type: 'joined', nickname: 'ada' });
      ws.publish(2, said('b'));
      return { el, ws };
    }

    async function reconnected(ws: FakeWebSocket): Promise<FakeWebSocket> {
      ws.serverClose(1006, '');
      await vi.waitFor(() => expect(FakeWebSocket.instances.at(-1)?.readyState).toBe(1));
      const next = FakeWebSocket.instances.at(-1)!;
      expect(next).not.toBe(ws);
      return next;
    }

    it('offers gale.v1, and shows what was said during the cut once, without a history', async () => {
      const { el, ws } = await inRoom();
      expect(ws.protocols).toContain('gale.v1');
      expect(ws.sent).toEqual(['{"resume":[]}']);
      const next = await reconnected(ws);
      // The hello presents the room's position; the page asks for nothing more.
      expect(next.sent).toEqual(['{"resume":[["chat:room","E1",2]]}']);
      next.control({ type: 'position', epoch: 'E1', offset: 2 });
      next.publish(3, said('c'));
      next.publish(3, said('c')); // a duplicate: the client drops it
      next.publish(4, { type: 'left', nickname: 'cleo' });
      await el.updateComplete;
      await list(el).updateComplete;
      expect(lines(el)).toEqual(['a', 'You joined', 'b', 'c', 'cleo left']);
      expect(list(el).historyVersion).toBe(1);
    });

    it('after a gap, shows the history in place of its list, each message once', async () => {
      const { el, ws } = await inRoom();
      const next = await reconnected(ws);
      next.control({
        type: 'gap',
        from: { epoch: 'E1', offset: 2 },
        to: { epoch: 'E1', offset: 4 },
      });
      next.publish(5, said('e')); // kept by the broker
      next.publish(6, said('f')); // said while the history was read
      next.receive({ type: 'history', messages: ['b', 'c', 'd', 'e'].map(said) });
      next.publish(7, said('d')); // in the history too: said just before it was read
      next.publish(8, said('g'));
      await el.updateComplete;
      await list(el).updateComplete;
      expect(lines(el)).toEqual(['b', 'c', 'd', 'e', 'f', 'g']);
      // The list shows it without reading it out.
      expect(list(el).historyVersion).toBe(2);
      expect(next.sent).toHaveLength(1);
    });

    it('asks for the history when the socket was lost before it came', async () => {
      FakeWebSocket.speaksGale = true;
      routes['GET /login'] = () => json(200, { nickname: 'ada' });
      await fixture();
      await vi.waitFor(() => expect(FakeWebSocket.instances.at(-1)?.readyState).toBe(1));
      const ws = FakeWebSocket.instances.at(-1)!;
      ws.control({ type: 'position', epoch: 'E1', offset: 3 });
      const next = await reconnected(ws);
      expect(next.sent).toEqual(['{"resume":[["chat:room","E1",3]]}', '{"type":"history"}']);
    });
  });
});
