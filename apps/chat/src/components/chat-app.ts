import {
  type ClientConnection,
  type ConnectionCloseEvent,
  ConnectionController,
  type GapEvent,
  type Message,
} from '@gale/client';
import { css, html, LitElement } from 'lit';
import { ChatCloseCode, ROOM_TOPIC, type ServerFrame } from '../../server/frames.js';
import { RoomLog } from '../room-log.js';
import { XSRF_HEADER, xsrfCookie } from '../xsrf.js';
import type { LoginSubmitDetail } from './login-form.js';
import type { MessageSubmitDetail } from './message-form.js';
import type { ChatEntry } from './message-list.js';
import { theme } from './theme.js';
import './connection-status.js';
import './login-form.js';
import './message-form.js';
import './message-list.js';

/** Where the page is: asking who we are, at the login form, or in the room. */
export type View = 'loading' | 'login' | 'room';

/** Shown when the server refuses a login as a possible forgery (403), even after a fresh token. */
export const LOGIN_REFUSED =
  'The server could not confirm that this login came from this page, so it refused it. ' +
  'Reload the page and try again.';

/** Shown when the server refuses a logout as a possible forgery (403), even after a fresh token. */
export const LOGOUT_REFUSED =
  'The server could not confirm that this request came from this page, so you are still ' +
  'signed in. Reload the page and choose Leave again.';

/**
 * The chat page: the login form until the server gave us a nickname, then the room. It owns the
 * room's connection (a `ConnectionController`, made on entering and dropped on leaving, since
 * /chat refuses anyone not logged in) and turns the server's frames into entries for the list.
 * Its POSTs (/login, /logout) carry the `_xsrf` cookie's token, which the server requires.
 *
 * The connection resumes the room topic (gale.v1): after a reconnection the server replays what
 * was said meanwhile, in order and once, and sends no history. It sends a history on entering
 * and after a `gap` (the broker no longer had everything): the page shows it in place of its
 * list, keeping what arrived after it was read, and each message once (`RoomLog`).
 */
export class ChatApp extends LitElement {
  static override properties = {
    _view: { state: true },
    _nickname: { state: true },
    _entries: { state: true },
    _loginError: { state: true },
    _loginNotice: { state: true },
    _isLoggingIn: { state: true },
    _roomError: { state: true },
    _historyVersion: { state: true },
  };

  static override styles = [
    theme,
    css`
      :host {
        display: block;
        min-height: 100vh;
        min-height: 100dvh;
        color: var(--chat-text);
        background: var(--chat-bg);
      }
      .page {
        max-width: 46rem;
        margin: 0 auto;
        padding: 1.5rem 1rem;
        box-sizing: border-box;
      }
      /* The room fills the window: the list scrolls, the message box stays in view. */
      .page.in-room {
        display: flex;
        flex-direction: column;
        gap: 1rem;
        height: 100vh;
        height: 100dvh;
        min-height: 20rem;
      }
      h1 {
        font-size: 1.5rem;
        margin: 0;
      }
      header {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.5rem 1rem;
      }
      header .who {
        margin: 0 0 0 auto;
        color: var(--chat-muted);
        min-width: 0;
        overflow-wrap: anywhere;
      }
      header .who strong {
        color: var(--chat-text);
      }
      .card {
        background: var(--chat-surface);
        border-radius: 8px;
        box-shadow: 0 1px 3px var(--chat-shadow);
        padding: 1rem;
      }
      .login {
        max-width: 26rem;
        margin: 12vh auto 0;
      }
      .login p.lead {
        color: var(--chat-muted);
        margin: 0.4rem 0 1.2rem;
      }
      .room {
        flex: 1;
        min-height: 0;
        display: flex;
        flex-direction: column;
        gap: 0.75rem;
        padding: 0;
      }
      message-list {
        flex: 1;
        border-bottom: 1px solid var(--chat-divider);
      }
      message-form {
        padding: 0 1rem 1rem;
      }
      .leave {
        min-width: 2.75rem;
        min-height: 2.75rem;
        padding: 0.4rem 0.9rem;
        font: inherit;
        color: var(--chat-text);
        background: var(--chat-surface);
        border: 1px solid var(--chat-border);
        border-radius: 6px;
        cursor: pointer;
      }
      .leave:hover {
        background: var(--chat-bg);
      }
      /* A phone: the nickname gets a line of its own, Leave stays at the top right. */
      @media (max-width: 32rem) {
        .page {
          padding: 0.75rem;
        }
        .page.in-room {
          gap: 0.75rem;
        }
        .login {
          margin-top: 8vh;
        }
        header .who {
          order: 1;
          flex-basis: 100%;
          margin: 0;
        }
        .leave {
          margin-left: auto;
        }
      }
    `,
  ];

  declare private _view: View;
  declare private _nickname: string;
  declare private _entries: readonly ChatEntry[];
  declare private _loginError: string;
  declare private _loginNotice: string;
  declare private _isLoggingIn: boolean;
  declare private _roomError: string;
  declare private _historyVersion: number;

  #socket: ConnectionController | null = null;
  #watched: ClientConnection | null = null;
  #isCheckingSession = false;
  readonly #log = new RoomLog();

  constructor() {
    super();
    this._view = 'loading';
    this._nickname = '';
    this._entries = [];
    this._loginError = '';
    this._loginNotice = '';
    this._isLoggingIn = false;
    this._roomError = '';
    this._historyVersion = 0;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    // The controller opens a new connection when the element comes back into the document.
    this.#watch();
    if (this._view === 'loading') void this.#resumeSession();
  }

  override render() {
    if (this._view === 'loading') {
      return html`<main class="page"><p role="status">Loading…</p></main>`;
    }
    if (this._view === 'login') {
      return html`
        <main class="page">
          <div class="card login">
            <h1>Chat</h1>
            <p class="lead">Pick a nickname to join the room.</p>
            <login-form
              .error=${this._loginError}
              .notice=${this._loginNotice}
              ?busy=${this._isLoggingIn}
              @login-submit=${this._onLogin}
            ></login-form>
          </div>
        </main>
      `;
    }
    const state = this.#socket?.state ?? 'closed';
    return html`
      <div class="page in-room">
        <header>
          <h1>Chat</h1>
          <connection-status .state=${state}></connection-status>
          <p class="who">Signed in as <strong>${this._nickname}</strong></p>
          <button class="leave" type="button" @click=${this._onLeave}>Leave</button>
        </header>
        <main class="card room">
          <message-list
            .entries=${this._entries}
            .me=${this._nickname}
            .historyVersion=${this._historyVersion}
          ></message-list>
          <message-form
            .error=${this._roomError}
            @message-submit=${this._onSend}
          ></message-form>
        </main>
      </div>
    `;
  }

  // --- Login and logout ---

  async #resumeSession(): Promise<void> {
    let nickname: string | null = null;
    try {
      nickname = await fetchSessionNickname();
    } catch {
      // Not known: the login form, whose answer will say more.
    }
    if (nickname === null) this.#showLogin('');
    else this.#enterRoom(nickname);
  }

  private async _onLogin(event: CustomEvent<LoginSubmitDetail>): Promise<void> {
    this._isLoggingIn = true;
    this._loginError = '';
    try {
      const response = await postWithToken('/login', {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ nickname: event.detail.nickname }),
      });
      const body = (await response.json().catch(() => ({}))) as {
        nickname?: string;
        message?: string;
      };
      // Only a 200 enters the room: a refusal shows its reason and nothing else happens.
      if (!response.ok || typeof body.nickname !== 'string') {
        // The server's reason for a 403 names cookies and headers; say what it means instead.
        this._loginError =
          response.status === 403
            ? LOGIN_REFUSED
            : (body.message ?? `Could not log in (${response.status})`);
        this.#focusLogin();
        return;
      }
      this.#enterRoom(body.nickname);
    } catch {
      this._loginError = 'Could not reach the server. Check your connection and try again.';
      this.#focusLogin();
    } finally {
      this._isLoggingIn = false;
    }
  }

  private async _onLeave(): Promise<void> {
    this.#showLogin('You left the room.');
    try {
      const response = await postWithToken('/logout', {});
      await response.body?.cancel();
      // Still signed in: say so, since a reload would go straight back into the room.
      if (response.status === 403 && this._view === 'login') this._loginNotice = LOGOUT_REFUSED;
    } catch {
      // The server frees the nickname by itself once no tab of ours is left.
    }
  }

  #enterRoom(nickname: string): void {
    this.#dropSocket();
    this._nickname = nickname;
    this._entries = [];
    this._roomError = '';
    this._loginError = '';
    this._loginNotice = '';
    this._view = 'room';
    this.#log.reset();
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.#socket = new ConnectionController(this, `${scheme}//${location.host}/chat`, {
      // gale.v1: what was said while a reconnection was under way is replayed, not lost.
      resume: true,
      reconnect: {
        minDelay: 250,
        maxDelay: 5000,
        // Logged out (here or in another tab): coming back would only be refused.
        shouldReconnect: (info) => info.code !== ChatCloseCode.LOGGED_OUT,
      },
      onMessage: (message) => this.#onFrame(message),
    });
    this.#watch();
    void this.updateComplete.then(() => this.renderRoot.querySelector('message-form')?.focus());
  }

  #showLogin(notice: string): void {
    this.#dropSocket();
    this._view = 'login';
    this._loginNotice = notice;
    this._entries = [];
    this.#focusLogin();
  }

  /**
   * Puts the focus in the nickname box once rendered: on arriving at the form, and after a
   * refusal (Join, disabled while asking, may have had it), where the box says why.
   */
  #focusLogin(): void {
    void this.updateComplete.then(() => this.renderRoot.querySelector('login-form')?.focus());
  }

  #dropSocket(): void {
    const socket = this.#socket;
    if (socket === null) return;
    this.#unwatch();
    this.#socket = null;
    // The controller's own teardown (closes the connection), then it is no longer ours.
    socket.hostDisconnected();
    this.removeController(socket);
  }

  // --- The room's connection ---

  #watch(): void {
    const connection = this.#socket?.connection ?? null;
    if (connection === this.#watched) return;
    this.#unwatch();
    this.#watched = connection;
    connection?.addEventListener('close', this.#onClose);
    connection?.addEventListener('reconnecting', this.#onReconnecting);
    connection?.addEventListener('reconnect', this.#onReconnect);
    connection?.addEventListener('gap', this.#onGap);
  }

  #unwatch(): void {
    this.#watched?.removeEventListener('close', this.#onClose);
    this.#watched?.removeEventListener('reconnecting', this.#onReconnecting);
    this.#watched?.removeEventListener('reconnect', this.#onReconnect);
    this.#watched?.removeEventListener('gap', this.#onGap);
    this.#watched = null;
  }

  // Messages of the room were lost (the broker no longer had them all, or its history restarted):
  // the server sends a history, which will replace the list. Nothing else is said: the history is
  // what a newcomer sees, and the connection status has already said "Reconnecting…", "Connected".
  readonly #onGap = (event: GapEvent): void => {
    if (event.topic === ROOM_TOPIC) this.#log.expectHistory();
  };

  // A history still due when the socket was lost (it closed before the history reached us: the
  // server had sent the room's position, so it would resume without one): ask for it.
  readonly #onReconnect = (): void => {
    if (this.#log.isHistoryDue) this.#watched?.send({ type: 'history' });
  };

  readonly #onClose = (event: ConnectionCloseEvent): void => {
    if (event.info.code === ChatCloseCode.LOGGED_OUT)
      this.#showLogin('You left the room in another tab.');
    else void this.#checkSession();
  };

  // Browsers hide why a handshake failed; a 401 (the session ended) looks like a network error.
  // Ask the server before trying again and again.
  readonly #onReconnecting = (): void => {
    void this.#checkSession();
  };

  async #checkSession(): Promise<void> {
    if (this.#isCheckingSession) return;
    this.#isCheckingSession = true;
    try {
      const nickname = await fetchSessionNickname();
      if (nickname === null && this._view === 'room') {
        this.#showLogin('Your session has ended. Please join again.');
      }
    } catch {
      // The server is down: the connection keeps retrying by itself.
    } finally {
      this.#isCheckingSession = false;
    }
  }

  #onFrame(message: Message): void {
    if (typeof message !== 'string') return;
    let frame: ServerFrame;
    try {
      frame = JSON.parse(message) as ServerFrame;
    } catch {
      return;
    }
    if (frame.type === 'error') {
      this._roomError = frame.reason;
    } else if (this.#log.receive(frame)) {
      this._entries = this.#log.entries;
      this._historyVersion = this.#log.historyVersion;
    }
  }

  private _onSend(event: CustomEvent<MessageSubmitDetail>): void {
    this._roomError = '';
    const connection = this.#socket?.connection;
    if (!connection) return;
    // Queued while reconnecting; a message that can never be sent is shown, not lost.
    connection
      .writeMessage({ type: 'message', text: event.detail.text })
      .catch((error: unknown) => {
        this._roomError = `Not sent: ${(error as Error).message}`;
      });
  }
}

/**
 * POSTs to `url` with the `_xsrf` cookie's token in `X-XSRFToken`: the server refuses (403, and
 * does nothing) a POST without it. The page's first GET /login set the cookie; when it is gone
 * (cleared since), GET /login sets it again first. A 403 gets one more try after a fresh
 * GET /login, since the cookie may have changed since it was read; the second answer is returned
 * as it is. Rejects when the server cannot be reached.
 */
async function postWithToken(url: string, init: RequestInit): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1 || xsrfCookie() === null) {
      const refreshed = await fetch('/login', { headers: { Accept: 'application/json' } });
      await refreshed.body?.cancel();
    }
    const token = xsrfCookie();
    const headers = new Headers(init.headers);
    if (token !== null) headers.set(XSRF_HEADER, token);
    const response = await fetch(url, { ...init, method: 'POST', headers });
    if (response.status !== 403 || attempt > 1) return response;
    await response.body?.cancel();
  }
}

/**
 * Who the server says this browser is (GET /login): a nickname, or null when it is not signed in.
 * Rejects when the server cannot be asked (down, or answering something else).
 */
async function fetchSessionNickname(): Promise<string | null> {
  const response = await fetch('/login', { headers: { Accept: 'application/json' } });
  if (!response.ok) throw new Error(`GET /login answered ${response.status}`);
  const body = (await response.json()) as { nickname?: unknown };
  return typeof body.nickname === 'string' ? body.nickname : null;
}

customElements.define('chat-app', ChatApp);

declare global {
  interface HTMLElementTagNameMap {
    'chat-app': ChatApp;
  }
}
