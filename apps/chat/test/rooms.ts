import { silentLogger } from '@gale/server';
import type { ManualClock } from '@gale/test-utils';
import { ChatRoom, ROOM_TOPIC, type RoomTab } from '../server/chat-room.js';
import type { ServerFrame } from '../server/frames.js';
import { MemoryHistory } from '../server/history.js';
import type { NicknameRegistry } from '../server/nickname-registry.js';
import type { Presence } from '../server/presence.js';
import type { Session } from '../server/session.js';

// ChatRooms without sockets or HTTP, for the presence rules: each stands for one server process,
// on stores it is given (shared between them, as Redis would be), on one ManualClock that only
// the test moves. What they publish to the room goes to one list, as the broker would carry it
// to every process's sockets.

/** What one process is made of. */
export interface RoomParts {
  readonly registry: NicknameRegistry;
  readonly presence: Presence;
}

/** Rooms on one clock, and the notices they published, in order. */
export interface Rooms {
  readonly rooms: readonly ChatRoom[];
  /** The `joined` and `left` notices published so far, as `joined Ada` and `left Ada`. */
  readonly notices: string[];
  /**
   * Moves the clock forward by `ms`, a second at a time (so that no room misses a beat that
   * the others count on), each step once every room is done with what it started.
   */
  elapse(ms: number): Promise<void>;
  /** Signs `nickname` in on room `index` (with its store: a claim the heartbeat can renew). */
  signIn(index: number, nickname: string): Promise<Session>;
  /** Opens a tab of `session` on room `index`, under a new connection id, which it returns. */
  enter(index: number, session: Session): Promise<string>;
  /** Closes that tab. */
  exit(index: number, session: Session, connectionId: string): Promise<void>;
  /** Stops every room (as a process that dies stops: no leave, no goodbye). */
  close(): Promise<void>;
}

const STEP_MS = 1000;
const quiet: RoomTab = { send() {}, evict() {} };
let connections = 0;

export function makeRooms(
  clock: ManualClock,
  parts: readonly RoomParts[],
  options: { presenceGraceMs?: number; releaseAfterMs?: number } = {},
): Rooms {
  const notices: string[] = [];
  const rooms = parts.map(
    (part) =>
      new ChatRoom({
        ...part,
        history: new MemoryHistory(),
        publish: (topic, message) => {
          const frame = message as ServerFrame;
          if (topic === ROOM_TOPIC && (frame.type === 'joined' || frame.type === 'left')) {
            notices.push(`${frame.type} ${frame.nickname}`);
          }
        },
        releaseAfterMs: options.releaseAfterMs ?? 30_000,
        heartbeatMs: 5000,
        presenceGraceMs: options.presenceGraceMs,
        logger: silentLogger,
        clock,
      }),
  );
  const room = (index: number): ChatRoom => {
    const found = rooms[index];
    if (found === undefined) throw new Error(`no room ${index}`);
    return found;
  };
  return {
    rooms,
    notices,
    async elapse(ms) {
      for (let left = ms; left > 0; left -= STEP_MS) {
        clock.advance(Math.min(left, STEP_MS));
        await Promise.all(rooms.map((r) => r.settled()));
      }
    },
    async signIn(index, nickname) {
      const result = await room(index).signIn(nickname, null);
      if (!result.ok) throw new Error(`${nickname}: ${result.reason}`);
      return result.session;
    },
    async enter(index, session) {
      connections += 1;
      const connectionId = `tab${connections}`;
      await room(index).enter(session, connectionId, quiet);
      return connectionId;
    },
    exit: (index, session, connectionId) => room(index).exit(session, connectionId),
    async close() {
      await Promise.all(rooms.map((r) => r.close()));
    },
  };
}
