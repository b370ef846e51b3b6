import type { RouteOptions } from '@gale/server';
import type { ChatMessage, History } from './history.js';
import { nicknameKey, validateNickname } from './nickname.js';
import type { NicknameRegistry } from './nickname-registry.js';
import type { Presence } from './presence.js';
import { newSessionId, type Session } from './session.js';

/** How many messages a newcomer is shown. */
export const HISTORY_LENGTH = 50;

/** The topic every socket of the room subscribes to. */
export const ROOM_TOPIC = 'chat:room';

/**
 * The topic the sockets of one browser session listen on for "logged out": publishing anything
 * to it closes them, on whichever server process they are, since it goes through the broker.
 */
export function sessionTopic(sessionId: string): string {
  return `chat:session:${sessionId}`;
}

/** Shown when a nickname is taken (HTTP 409). */
export const NICKNAME_TAKEN = 'Nickname already in use, please choose another';

/** What `signIn` decided. */
export type SignInResult =
  | { readonly ok: true; readonly session: Session }
  | { readonly ok: false; readonly status: 400 | 409; readonly reason: string };

/** What a `ChatRoom` is made of. */
export interface ChatRoomOptions {
  readonly registry: NicknameRegistry;
  readonly presence: Presence;
  readonly history: History;
  /** Sends a message to a topic's subscribers (the application's `publish`). */
  readonly publish: (topic: string, message: object) => void | Promise<void>;
  /**
   * Milliseconds a nickname stays claimed with no tab open and no logout (after its last tab
   * closed, or after a login no tab followed), so that a reload or a short network loss keeps it.
   */
  readonly releaseAfterMs: number;
}

/**
 * The chat's rules, over its three stores: who may use which nickname, who is in the room, what
 * was said. The HTTP and WebSocket handlers only translate between it and the wire.
 */
export class ChatRoom {
  readonly #registry: NicknameRegistry;
  readonly #presence: Presence;
  readonly #history: History;
  readonly #publish: ChatRoomOptions['publish'];
  readonly #releaseAfterMs: number;
  // Per process, so a nickname whose last tab closed here is freed from here; with several
  // processes, a registry with expiring claims could do this instead.
  readonly #releaseTimers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(options: ChatRoomOptions) {
    this.#registry = options.registry;
    this.#presence = options.presence;
    this.#history = options.history;
    this.#publish = options.publish;
    this.#releaseAfterMs = options.releaseAfterMs;
  }

  /**
   * Claims a nickname for a browser. `current` is the session its cookie already holds: its id is
   * kept (so the same browser logging in again keeps its nickname), and a different nickname it
   * held is given up. Resolves with the new session, or a 400 (invalid) or 409 (taken) reason.
   */
  async signIn(raw: string, current: Session | null): Promise<SignInResult> {
    const check = validateNickname(raw);
    if (!check.ok) return { ok: false, status: 400, reason: check.reason };
    const session: Session = { nickname: check.nickname, id: current?.id ?? newSessionId() };
    if (!(await this.#registry.claim(session.nickname, session.id))) {
      return { ok: false, status: 409, reason: NICKNAME_TAKEN };
    }
    if (current !== null && current.nickname !== session.nickname) {
      // Its tabs still wear the old name: they leave, and reconnect under the new one.
      const isSameKey = nicknameKey(current.nickname) === nicknameKey(session.nickname);
      await this.#leaveRoom(current, !isSameKey);
    }
    this.#scheduleRelease(session);
    return { ok: true, session };
  }

  /** Logs a session out: frees its nickname, announces it left, closes its sockets. */
  async signOut(session: Session): Promise<void> {
    await this.#leaveRoom(session, true);
  }

  /**
   * Whether a session (from a valid cookie) may use its nickname now. It may if it still holds it,
   * or if the nickname was freed meanwhile and is claimed again here; not if someone else has it.
   */
  async resume(session: Session): Promise<boolean> {
    if (!(await this.#registry.claim(session.nickname, session.id))) return false;
    this.#scheduleRelease(session);
    return true;
  }

  /** A connection of `session` entered: the first one announces that it joined. */
  async enter(session: Session, connectionId: string): Promise<void> {
    this.#cancelRelease(session);
    if (await this.#presence.join(session.nickname, connectionId)) {
      await this.#publish(ROOM_TOPIC, { type: 'joined', nickname: session.nickname });
    }
  }

  /** A connection of `session` closed: the last one announces that it left. */
  async exit(session: Session, connectionId: string): Promise<void> {
    if (await this.#presence.leave(session.nickname, connectionId)) {
      await this.#publish(ROOM_TOPIC, { type: 'left', nickname: session.nickname });
      this.#scheduleRelease(session);
    }
  }

  /** Posts a message (already validated) from `session` to everyone, itself included. */
  async say(session: Session, text: string): Promise<void> {
    const message: ChatMessage = {
      type: 'message',
      from: session.nickname,
      text,
      at: new Date().toISOString(),
    };
    await this.#history.append(message);
    await this.#publish(ROOM_TOPIC, message);
  }

  /** The messages a newcomer is shown, oldest first. */
  recent(): Promise<ChatMessage[]> {
    return this.#history.last(HISTORY_LENGTH);
  }

  /** Stops the pending release timers (nicknames they would free stay claimed). */
  close(): void {
    for (const timer of this.#releaseTimers.values()) clearTimeout(timer);
    this.#releaseTimers.clear();
  }

  async #leaveRoom(session: Session, release: boolean): Promise<void> {
    this.#cancelRelease(session);
    // Only the holder may take the nickname out of the room: if it was freed and claimed by
    // someone else meanwhile, presence under that name is theirs.
    const holds = release
      ? await this.#registry.release(session.nickname, session.id)
      : await this.#registry.claim(session.nickname, session.id);
    if (holds && (await this.#presence.leaveAll(session.nickname))) {
      await this.#publish(ROOM_TOPIC, { type: 'left', nickname: session.nickname });
    }
    await this.#publish(sessionTopic(session.id), { type: 'logout' });
  }

  #scheduleRelease(session: Session): void {
    this.#cancelRelease(session);
    const key = nicknameKey(session.nickname);
    const timer = setTimeout(() => {
      this.#releaseTimers.delete(key);
      void this.#releaseIfAbsent(session);
    }, this.#releaseAfterMs);
    // A pending release never keeps the process alive.
    timer.unref?.();
    this.#releaseTimers.set(key, timer);
  }

  #cancelRelease(session: Session): void {
    const key = nicknameKey(session.nickname);
    clearTimeout(this.#releaseTimers.get(key));
    this.#releaseTimers.delete(key);
  }

  async #releaseIfAbsent(session: Session): Promise<void> {
    if ((await this.#presence.count(session.nickname)) === 0) {
      await this.#registry.release(session.nickname, session.id);
    }
  }
}

/** The `ChatRoom` given to a handler in its route's options (`{ room }`). */
export function roomOf(options: RouteOptions): ChatRoom {
  const room = options['room'];
  if (!(room instanceof ChatRoom)) throw new Error('the route needs a ChatRoom in options.room');
  return room;
}
