import { randomUUID } from 'node:crypto';
import { type Clock, systemClock, unref } from '@gale/io/clock';
import type { HistoryPolicy, Logger, RouteOptions } from '@gale/server';
import { StoreUnavailableError } from './errors.js';
import { ROOM_TOPIC, type ServerFrame } from './frames.js';
import type { ChatMessage, History } from './history.js';
import { isSameNickname, nicknameKey, validateNickname } from './nickname.js';
import type { NicknameRegistry } from './nickname-registry.js';
import type { Presence } from './presence.js';
import { newSessionId, type Session } from './session.js';

/** How many messages a newcomer is shown. */
export const HISTORY_LENGTH = 50;

/**
 * How long "left" waits after a user's last tab closed, by default: a tab that comes back
 * meanwhile (a reload, a reconnection, on any server process) makes it neither "left" nor
 * "joined" for the others.
 */
export const DEFAULT_PRESENCE_GRACE_MS = 5000;

/**
 * How often presence is told this process is alive (`Presence.beat`) by default: with a shared
 * store, one silent for three beats counts as dead, and its users leave at the next beat of any
 * other, so within four beats (4 s) of its death.
 */
export const DEFAULT_LIVENESS_MS = 1000;

/** How long `recover` waits before it tries the store again. */
const RECOVER_RETRY_MS = 500;

export { ROOM_TOPIC };

/**
 * What the broker keeps of each topic, for tabs that reconnect (gale.v1): the room topic keeps
 * the broker's defaults (the last 1000 messages and notices, none older than 5 minutes, within
 * 1 MiB), far more than a tab misses in a typical disconnection, so it gets them all, in order,
 * once, and no history. The session topics ("logged out") keep nothing: a listener reads them,
 * which never resumes, and a tab of a session that logged out is refused on reconnecting.
 */
export const BROKER_HISTORY: HistoryPolicy = (topic) => (topic === ROOM_TOPIC ? {} : false);

/**
 * The topic the sockets of one browser session listen on for "logged out": publishing anything
 * to it closes them, on whichever server process they are, since it goes through the broker.
 */
export function sessionTopic(sessionId: string): string {
  return `chat:session:${sessionId}`;
}

/** Shown when a nickname is taken (HTTP 409). */
export const NICKNAME_TAKEN = 'Nickname already in use, please choose another';

/** Shown when a nickname looks like one in use (the same key, another name; HTTP 409). */
export const NICKNAME_LOOKS_TAKEN =
  'Nickname looks too much like one already in use, please choose another';

/**
 * How long a session that logged out stays revoked: longer than any cookie signed before the
 * logout is accepted (`getSecureCookie` takes one for 31 days from its signing, and its clock may
 * be up to 5 minutes behind the signer's), so its copies never sign anyone in again.
 */
export const REVOKED_SESSION_MS = 32 * 24 * 60 * 60 * 1000;

/** What `signIn` decided. */
export type SignInResult =
  | { readonly ok: true; readonly session: Session }
  | { readonly ok: false; readonly status: 400 | 409; readonly reason: string };

/** A connection in the room, as the room reaches it: one tab's socket on this server process. */
export interface RoomTab {
  /** Sends it a frame (never throws: a closing socket just misses it). */
  send(frame: ServerFrame): void;
  /** Closes it because its session no longer holds its nickname (someone else has it now). */
  evict(): void;
}

/** What a `ChatRoom` is made of. */
export interface ChatRoomOptions {
  readonly registry: NicknameRegistry;
  readonly presence: Presence;
  readonly history: History;
  /**
   * Sends a message to a topic's subscribers on every server process (the app's `publish`).
   * What it returns is awaited (a promise), and otherwise ignored.
   */
  readonly publish: (topic: string, message: object) => unknown;
  /**
   * Milliseconds a nickname stays claimed with no tab open and no logout (after its last tab
   * closed, or after a login no tab followed), so that a reload or a short network loss keeps it.
   */
  readonly releaseAfterMs: number;
  /**
   * Milliseconds between two heartbeats: the nicknames of the sessions with a tab open here are
   * held again (for `releaseAfterMs`) and the presence store is told which connections this
   * process has. Less than `releaseAfterMs`.
   */
  readonly heartbeatMs: number;
  /**
   * Milliseconds "left" waits after a user's last tab closed: announced only if no tab of that
   * nickname came back meanwhile, here or on another process; one that did makes neither "left"
   * nor "joined". `DEFAULT_PRESENCE_GRACE_MS` (5,000) by default; 0 announces at once.
   */
  readonly presenceGraceMs?: number | undefined;
  /**
   * Milliseconds between two beats of presence (`Presence.beat`): the cheap proof that this
   * process is alive, and the sweep of the processes that died and of the grace periods that
   * are over. `DEFAULT_LIVENESS_MS` (1,000) by default.
   */
  readonly livenessMs?: number | undefined;
  readonly logger: Logger;
  /**
   * Where the heartbeat, the beats of presence, the grace periods, the retries of `recover` and
   * the wait of `close` take their timers from. The system clock by default; tests pass one they
   * step.
   */
  readonly clock?: Clock | undefined;
}

/** One tab in the room on this server process. */
interface LocalConnection {
  readonly session: Session;
  readonly tab: RoomTab;
}

/**
 * The chat's rules, over its three stores: who may use which nickname, who is in the room, what
 * was said. The HTTP and WebSocket handlers only translate between it and the wire. With shared
 * stores (Redis) several server processes run one room together.
 *
 * A nickname is claimed for `releaseAfterMs` at a time. While a tab of its session is open on a
 * process, that process's heartbeat holds it again and again; when the last tab anywhere closes,
 * its process holds it one last time, so it frees itself `releaseAfterMs` later unless a tab came
 * back — also when that process died meanwhile, since nothing holds it any more.
 *
 * A user whose last tab closed is announced as left only `presenceGraceMs` later, by this
 * process's timer, if no tab of the nickname came back meanwhile (on any process: the grace
 * period is in the presence store). If this process dies first, another one's beat ends it.
 */
export class ChatRoom {
  readonly #registry: NicknameRegistry;
  readonly #presence: Presence;
  readonly #history: History;
  readonly #publishTo: ChatRoomOptions['publish'];
  readonly #releaseAfterMs: number;
  readonly #heartbeatMs: number;
  readonly #presenceGraceMs: number;
  readonly #livenessMs: number;
  readonly #logger: Logger;
  readonly #clock: Clock;
  /** The tabs on this process, by connection id. */
  readonly #local = new Map<string, LocalConnection>();
  readonly #pending = new Set<Promise<unknown>>();
  #timer: unknown;
  #beat: Promise<boolean> | null = null;
  #pulseTimer: unknown;
  #pulse: Promise<void> | null = null;
  /** The grace periods this process's timers will end, by nickname key. */
  readonly #leaving = new Map<string, unknown>();
  /** Sessions whose nickname could not be held at the last heartbeat. */
  #losing = new Set<string>();
  #isStoreFailing = false;
  #isRecovering = false;
  #isClosed = false;

  constructor(options: ChatRoomOptions) {
    this.#registry = options.registry;
    this.#presence = options.presence;
    this.#history = options.history;
    this.#publishTo = options.publish;
    this.#releaseAfterMs = options.releaseAfterMs;
    this.#heartbeatMs = options.heartbeatMs;
    this.#presenceGraceMs = Math.max(0, options.presenceGraceMs ?? DEFAULT_PRESENCE_GRACE_MS);
    this.#livenessMs = options.livenessMs ?? DEFAULT_LIVENESS_MS;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#scheduleHeartbeat();
    this.#schedulePulse();
  }

  /**
   * Claims a nickname for a browser. `cookie` is the session its cookie already holds: its id is
   * kept (so the same browser logging in again keeps its nickname), and a different nickname it
   * held is given up — unless that session logged out: then it is a new one, and the old cookie
   * stays revoked. Resolves with the new session, or a 400 (invalid) or 409 (taken, or looks like
   * a nickname in use) reason.
   */
  async signIn(raw: string, cookie: Session | null): Promise<SignInResult> {
    const check = validateNickname(raw);
    if (!check.ok) return { ok: false, status: 400, reason: check.reason };
    const current = cookie !== null && !(await this.#registry.isRevoked(cookie.id)) ? cookie : null;
    const session: Session = { nickname: check.nickname, id: current?.id ?? newSessionId() };
    if (!(await this.#registry.claim(session.nickname, session.id, this.#releaseAfterMs))) {
      const holder = await this.#registry.holder(session.nickname);
      const looksAlike = holder !== null && !isSameNickname(holder, session.nickname);
      return { ok: false, status: 409, reason: looksAlike ? NICKNAME_LOOKS_TAKEN : NICKNAME_TAKEN };
    }
    if (current !== null && current.nickname !== session.nickname) {
      // Its tabs still wear the old name: they leave, and reconnect under the new one.
      const isSameKey = nicknameKey(current.nickname) === nicknameKey(session.nickname);
      await this.#leaveRoom(current, !isSameKey);
    }
    return { ok: true, session };
  }

  /**
   * Logs a session out: revokes it (for `REVOKED_SESSION_MS`, on every server process sharing the
   * store), frees its nickname, announces it left, closes its sockets. Revoked first, so that no
   * copy of its cookie can claim the nickname back in between.
   */
  async signOut(session: Session): Promise<void> {
    await this.#registry.revoke(session.id, REVOKED_SESSION_MS);
    await this.#leaveRoom(session, true);
  }

  /**
   * Whether a session (from a valid cookie) may use its nickname now. It may if it still holds it,
   * or if the nickname was freed meanwhile and is claimed again here; not if someone else has it,
   * nor once the session logged out.
   */
  resume(session: Session): Promise<boolean> {
    return this.#registry.claim(session.nickname, session.id, this.#releaseAfterMs);
  }

  /** Whether a session logged out (and is revoked): why `resume` refused it, if so. */
  hasLoggedOut(session: Session): Promise<boolean> {
    return this.#registry.isRevoked(session.id);
  }

  /**
   * A tab of `session` entered: the first one anywhere announces that it joined — unless it came
   * back within the grace period after the user's last tab closed: then nobody heard that it left,
   * and nobody hears that it joined.
   */
  async enter(session: Session, connectionId: string, tab: RoomTab): Promise<void> {
    // Known here first: if the store misses the join, the next heartbeat tells it.
    this.#local.set(connectionId, { session, tab });
    if (await this.#presence.join(session.nickname, connectionId)) {
      await this.#announce({ type: 'joined', nickname: session.nickname });
    }
    // The store ended any grace period of the nickname: a timer of this process has nothing to do.
    this.#stopWaiting(nicknameKey(session.nickname));
  }

  /**
   * A tab of `session` closed. The last one anywhere starts the grace period: "left" is announced
   * `presenceGraceMs` from now if no tab of the nickname came back by then. The nickname is held
   * for `releaseAfterMs` from now (unless it was released: a logout), and again when the user is
   * announced as left.
   */
  exit(session: Session, connectionId: string): Promise<void> {
    this.#local.delete(connectionId);
    return this.#track(
      (async () => {
        const graceMs = this.#presenceGraceMs;
        if (await this.#presence.leave(session.nickname, connectionId, graceMs)) {
          try {
            await this.#registry.renew(session.nickname, session.id, this.#releaseAfterMs);
          } finally {
            if (graceMs === 0) await this.#endGrace(session, connectionId);
            else this.#waitForReturn(session, connectionId);
          }
        }
      })(),
    );
  }

  /**
   * Posts a message (already validated) from `session` to everyone, itself included. Stored
   * first: if the store cannot take it, it is sent to no one (rejects with
   * `StoreUnavailableError`), so what people saw and what newcomers are shown never differ.
   */
  async say(session: Session, text: string): Promise<void> {
    const message: ChatMessage = {
      type: 'message',
      id: randomUUID(),
      from: session.nickname,
      text,
      at: new Date().toISOString(),
    };
    await this.#history.append(message);
    await this.#announce(message);
  }

  /** The messages a newcomer is shown, oldest first. */
  recent(): Promise<ChatMessage[]> {
    return this.#history.last(HISTORY_LENGTH);
  }

  /**
   * One heartbeat (the room runs one every `heartbeatMs`; the first runs now if none is under
   * way): holds the nicknames of the sessions with a tab here, tells presence which connections
   * this process has, and announces whoever joined or left because of it (users of a process
   * that died, or that the store forgot). A session whose nickname is no longer its own (released
   * by a logout whose message did not get here, or taken by someone else after the store forgot
   * it) is out of the room at once, and its tabs are closed if it is still so at the next beat
   * (the logout's own message normally closes them first). Resolves whether the store answered;
   * one that cannot be reached is reported once, and tried again next time.
   */
  heartbeat(): Promise<boolean> {
    this.#beat ??= this.#track(this.#runHeartbeat()).finally(() => {
      this.#beat = null;
    });
    return this.#beat;
  }

  /**
   * After this process lost the broker (Redis) for a while: its tabs may have missed messages and
   * notices published elsewhere meanwhile. Once the store answers (it is tried every 500 ms, on
   * the room's clock), runs a heartbeat (the store may have restarted empty), then sends every
   * tab here a fresh `history` frame, which the page puts in place of what it shows. (When Redis
   * restarted empty, that history is empty: what was said is gone for newcomers too.)
   */
  async recover(): Promise<void> {
    if (this.#isRecovering) return;
    this.#isRecovering = true;
    try {
      while (!this.#isClosed) {
        try {
          if (await this.heartbeat()) {
            const frame: ServerFrame = { type: 'history', messages: await this.recent() };
            for (const { tab } of this.#local.values()) tab.send(frame);
            return;
          }
        } catch (error) {
          if (!(error instanceof StoreUnavailableError)) throw error;
        }
        await this.#sleep(RECOVER_RETRY_MS);
      }
    } catch (error) {
      this.#logger.error('chat: could not resend the history after reconnecting', error);
    } finally {
      this.#isRecovering = false;
    }
  }

  /**
   * Stops the heartbeat, the beats of presence and the grace periods' timers (a shared store's
   * other processes end those periods), and waits (up to `timeoutMs`) for the exits and beats
   * under way.
   */
  async close(timeoutMs = 2000): Promise<void> {
    this.#isClosed = true;
    this.#clock.clearTimeout(this.#timer);
    this.#clock.clearTimeout(this.#pulseTimer);
    for (const key of [...this.#leaving.keys()]) this.#stopWaiting(key);
    let timer: unknown;
    await Promise.race([
      this.settled(),
      new Promise((resolve) => {
        timer = this.#clock.setTimeout(() => resolve(undefined), timeoutMs);
      }),
    ]);
    this.#clock.clearTimeout(timer);
  }

  /**
   * Resolves once the exits and heartbeats under way are done (and those that started
   * meanwhile): a test that stepped the clock awaits it before it looks at the stores.
   */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  // One timer at a time, set again as each fires: a clock has no setInterval.
  #scheduleHeartbeat(): void {
    if (this.#isClosed) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#scheduleHeartbeat();
      void this.heartbeat();
    }, this.#heartbeatMs);
    // The heartbeat never keeps the process alive.
    unref(this.#timer);
  }

  // The beat of presence: every `livenessMs`, at most one under way.
  #schedulePulse(): void {
    if (this.#isClosed) return;
    this.#pulseTimer = this.#clock.setTimeout(() => {
      this.#schedulePulse();
      this.#pulse ??= this.#track(this.#runPulse()).finally(() => {
        this.#pulse = null;
      });
    }, this.#livenessMs);
    unref(this.#pulseTimer);
  }

  async #runPulse(): Promise<void> {
    try {
      const { left, isForgotten } = await this.#presence.beat();
      for (const nickname of left) await this.#announce({ type: 'left', nickname });
      // Taken for dead, or the store restarted empty: it gets this process's connections back now.
      if (isForgotten) await this.heartbeat();
    } catch (error) {
      // A store that cannot be reached is the heartbeat's to report (once).
      if (!(error instanceof StoreUnavailableError)) {
        this.#logger.error('chat: presence beat failed', error);
      }
    }
  }

  /** Ends the grace period of `connectionId`'s leave once it is over (unless a tab came back). */
  #waitForReturn(session: Session, connectionId: string): void {
    if (this.#isClosed) return;
    const key = nicknameKey(session.nickname);
    this.#stopWaiting(key);
    const timer = this.#clock.setTimeout(() => {
      this.#leaving.delete(key);
      void this.#track(this.#endGrace(session, connectionId));
    }, this.#presenceGraceMs);
    unref(timer);
    this.#leaving.set(key, timer);
  }

  #stopWaiting(key: string): void {
    this.#clock.clearTimeout(this.#leaving.get(key));
    this.#leaving.delete(key);
  }

  /**
   * Announces that the user left if the grace period that `connectionId`'s leave started is still
   * on (no tab came back, no logout or other process ended it), holding the nickname again first:
   * whoever hears that the user left can count the delay from then.
   */
  async #endGrace(session: Session, connectionId: string): Promise<void> {
    try {
      if (!(await this.#presence.confirmLeave(session.nickname, connectionId))) return;
      try {
        await this.#registry.renew(session.nickname, session.id, this.#releaseAfterMs);
      } finally {
        await this.#announce({ type: 'left', nickname: session.nickname });
      }
    } catch (error) {
      // Unreachable: a shared store's beat (of any process) ends the period once it answers.
      if (!(error instanceof StoreUnavailableError)) {
        this.#logger.error('chat: ending the grace period of a leave failed', error);
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => unref(this.#clock.setTimeout(resolve, ms)));
  }

  async #runHeartbeat(): Promise<boolean> {
    try {
      const sessions = new Map<string, Session>();
      for (const { session } of this.#local.values()) sessions.set(sessionKey(session), session);
      const lost = new Set<string>();
      await Promise.all(
        [...sessions].map(async ([key, session]) => {
          if (!(await this.#registry.renew(session.nickname, session.id, this.#releaseAfterMs))) {
            lost.add(key);
          }
        }),
      );
      const connections = [];
      for (const [connectionId, { session, tab }] of this.#local) {
        const key = sessionKey(session);
        if (!lost.has(key)) {
          connections.push({ nickname: session.nickname, connectionId });
        } else if (this.#losing.has(key)) {
          this.#local.delete(connectionId);
          tab.evict();
        }
      }
      this.#losing = lost;
      const changes = await this.#presence.refresh(connections);
      for (const nickname of changes.left) await this.#announce({ type: 'left', nickname });
      for (const nickname of changes.joined) await this.#announce({ type: 'joined', nickname });
      if (this.#isStoreFailing) this.#logger.info('chat: heartbeat: the store is back');
      this.#isStoreFailing = false;
      return true;
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) {
        this.#logger.error('chat: heartbeat failed', error);
      } else if (!this.#isStoreFailing) {
        this.#logger.warn('chat: heartbeat: the store cannot be reached; trying again');
      }
      this.#isStoreFailing = error instanceof StoreUnavailableError;
      return false;
    }
  }

  async #leaveRoom(session: Session, release: boolean): Promise<void> {
    // Only the holder may take the nickname out of the room: if it was freed and claimed by
    // someone else meanwhile, presence under that name is theirs.
    const holds = release
      ? await this.#registry.release(session.nickname, session.id)
      : await this.#registry.claim(session.nickname, session.id, this.#releaseAfterMs);
    if (holds && (await this.#presence.leaveAll(session.nickname))) {
      await this.#announce({ type: 'left', nickname: session.nickname });
    }
    if (holds) this.#stopWaiting(nicknameKey(session.nickname));
    await this.#publish(sessionTopic(session.id), { type: 'logout' });
  }

  #announce(frame: ServerFrame): Promise<void> {
    return this.#publish(ROOM_TOPIC, frame);
  }

  /**
   * Publishes through the broker. A broker that cannot reach the other processes (Redis down)
   * still delivers here, then rejects; it has logged and counted that, and the room goes on: the
   * other processes resend their history when they are back (`recover`).
   */
  async #publish(topic: string, message: object): Promise<void> {
    try {
      await this.#publishTo(topic, message);
    } catch (error) {
      if (!(error instanceof Error && error.name === 'BrokerUnavailableError')) {
        this.#logger.error(`chat: publishing to ${topic} failed`, error);
      }
    }
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#pending.add(work);
    const forget = (): void => {
      this.#pending.delete(work);
    };
    work.then(forget, forget);
    return work;
  }
}

/** One key per session: a nickname (case-folded) and its owner. */
function sessionKey(session: Session): string {
  return `${nicknameKey(session.nickname)}\n${session.id}`;
}

/** The `ChatRoom` given to a handler in its route's options (`{ room }`). */
export function roomOf(options: RouteOptions): ChatRoom {
  const room = options['room'];
  if (!(room instanceof ChatRoom)) throw new Error('the route needs a ChatRoom in options.room');
  return room;
}
