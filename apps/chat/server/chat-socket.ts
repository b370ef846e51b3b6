import { randomUUID } from 'node:crypto';
import { HTTPError, WebSocketHandler } from '@gale/server';
import { type ChatRoom, ROOM_TOPIC, type RoomTab, roomOf, sessionTopic } from './chat-room.js';
import { NOT_SENT, StoreUnavailableError, UNAVAILABLE } from './errors.js';
import { ChatCloseCode, parseClientFrame, type ServerFrame } from './frames.js';
import { decodeSession, SESSION_COOKIE, type Session } from './session.js';

const { LOGGED_OUT, NICKNAME_LOST } = ChatCloseCode;
/** RFC 6455 §7.4.1 "Try Again Later": the store could not be reached while entering the room. */
const TRY_AGAIN_LATER = 1013;

/**
 * WS /chat: one tab in the room. Refused with 401 before the upgrade without a valid cookie (or
 * when its nickname now belongs to someone else, or its session logged out), 503 while the store
 * cannot be reached. On open it sends the history — unless the tab resumed the room topic
 * (gale.v1) with nothing lost: the broker replayed what it missed instead — then the room's
 * messages and notices as they come. It posts `{"type":"message","text":"…"}` frames, answers
 * `{"type":"history"}` with the history, and anything else with an error frame, staying open.
 */
export class ChatSocket extends WebSocketHandler {
  readonly #id = randomUUID();
  #session: Session | undefined;
  #entered: Promise<void> = Promise.resolve();

  // How the room reaches this tab (a fresh history after a Redis outage; eviction).
  readonly #tab: RoomTab = {
    send: (frame) => this.#send(frame),
    evict: () => this.close(NICKNAME_LOST, 'Your nickname is now in use by someone else'),
  };

  get #room(): ChatRoom {
    return roomOf(this.options);
  }

  override async prepare(): Promise<void> {
    const session = decodeSession(this.getSecureCookie(SESSION_COOKIE));
    if (session === null) throw new HTTPError(401, 'Log in first');
    let mayEnter: boolean;
    try {
      mayEnter = await this.#room.resume(session);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw new HTTPError(503, UNAVAILABLE);
      throw error;
    }
    if (!mayEnter) {
      // Which of the two, only for whoever reads the answer: the page just asks GET /login.
      const hasLoggedOut = await this.#room.hasLoggedOut(session).catch(() => false);
      throw new HTTPError(
        401,
        hasLoggedOut
          ? 'This session logged out; log in again'
          : 'Your nickname is now in use by someone else; log in again',
      );
    }
    this.#session = session;
  }

  override open(): Promise<void> {
    this.#entered = this.#enter(this.#requireSession());
    return this.#entered;
  }

  override async onMessage(message: string | Uint8Array): Promise<void> {
    const frame = parseClientFrame(message);
    if (!frame.ok) return this.#send({ type: 'error', reason: frame.reason });
    if (frame.type === 'history') return this.#sendHistory().catch(ignoreUnavailable);
    try {
      await this.#room.say(this.#requireSession(), frame.text);
    } catch (error) {
      // Not stored, so sent to no one: the sender is told, and may send it again.
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.#send({ type: 'error', reason: NOT_SENT });
    }
  }

  override onClose(): void {
    // After open() finished: a tab that closes while entering must not stay present.
    void this.#entered
      .catch(() => {})
      .then(() => this.#room.exit(this.#requireSession(), this.#id))
      .catch((error: unknown) => {
        // The store is down: the next heartbeat that reaches it removes this connection.
        if (!(error instanceof StoreUnavailableError)) {
          this.settings.logger.error('chat: leaving the room failed', error);
        }
      });
  }

  async #enter(session: Session): Promise<void> {
    try {
      // What is published to this session's topic only ever means "logged out".
      await this.subscribe(sessionTopic(session.id), () => this.close(LOGGED_OUT, 'Logged out'));
      // Subscribed before the history is read, so nothing said meanwhile is missed. A gale.v1 tab
      // that resumed with nothing lost has just been replayed what it missed: no history then.
      // Otherwise (a first connection, a gap, a plain client) the history, which the page puts
      // in place of its list.
      await this.subscribe(ROOM_TOPIC);
      if (!this.resumed(ROOM_TOPIC)) await this.#sendHistory();
      await this.#room.enter(session, this.#id, this.#tab);
    } catch (error) {
      // The store, or the broker (a subscribe while Redis, or the node owning the topic during a
      // failover, is unreachable: @gale/redis's BrokerUnavailableError).
      if (!(error instanceof StoreUnavailableError || isBrokerUnavailable(error))) throw error;
      // Lost between the handshake and here: the page reconnects (it does for any close).
      this.#send({ type: 'error', reason: UNAVAILABLE });
      this.close(TRY_AGAIN_LATER, 'Try again later');
    }
  }

  async #sendHistory(): Promise<void> {
    this.#send({ type: 'history', messages: await this.#room.recent() });
  }

  #send(frame: ServerFrame): void {
    try {
      // Not awaited: a tab that reads slowly is the server's send-buffer limit's business.
      this.writeMessage(frame).catch(() => {});
    } catch {
      // Closing already: there is nobody left to tell.
    }
  }

  #requireSession(): Session {
    if (this.#session === undefined) throw new Error('no session: prepare() did not run');
    return this.#session;
  }
}

/**
 * A history asked for while the store cannot be reached is not sent: the page asks again on its
 * next reconnection, and the room sends every tab one once the store is back (`recover`).
 */
function ignoreUnavailable(error: unknown): void {
  if (!(error instanceof StoreUnavailableError)) throw error;
}

/** @gale/redis's BrokerUnavailableError, told by its code (the in-memory app never loads it). */
function isBrokerUnavailable(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_BROKER_UNAVAILABLE';
}
