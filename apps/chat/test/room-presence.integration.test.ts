import { silentLogger } from '@gale/server';
import { ManualClock, REDIS_KINDS, useRedis } from '@gale/test-utils';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIVENESS_MS, DEFAULT_PRESENCE_GRACE_MS } from '../server/chat-room.js';
import { RedisNicknameRegistry } from '../server/redis-nickname-registry.js';
import { RedisPresence } from '../server/redis-presence.js';
import { RedisStore } from '../server/redis-store.js';
import { roomPresenceContract } from './room-presence.js';
import { makeRooms, type RoomParts, type Rooms } from './rooms.js';

// Two ChatRooms as two server processes on one real redis-server, then on a real Redis Cluster
// (each with its own connection), on one ManualClock the tests step: the grace period crosses
// processes, and the users of a process that stops beating leave within four beats of presence
// (4 s).
const GRACE_MS = DEFAULT_PRESENCE_GRACE_MS;
const LIVENESS_MS = DEFAULT_LIVENESS_MS;
const DEAD_AFTER_MS = 3 * LIVENESS_MS;

describe.each(REDIS_KINDS)('on %s', (kind) => {
  const redis = useRedis(kind);
  const stores: RedisStore[] = [];
  let unique = 0;

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });

  async function twoProcesses(clock: ManualClock): Promise<readonly [RoomParts, RoomParts]> {
    unique += 1;
    const prefix = `room${unique}:`;
    const part = async (): Promise<RoomParts> => {
      const store = new RedisStore({ url: redis.url, prefix, logger: silentLogger, clock });
      stores.push(store);
      await store.ready;
      return {
        registry: new RedisNicknameRegistry(store),
        presence: new RedisPresence(store, {
          deadAfterMs: DEAD_AFTER_MS,
          takeOverAfterMs: LIVENESS_MS,
        }),
      };
    };
    return [await part(), await part()];
  }

  describe('ChatRoom presence, in Redis', () => {
    roomPresenceContract(twoProcesses);
  });

  describe('ChatRoom presence across processes, in Redis', () => {
    const opened: Rooms[] = [];

    async function start(): Promise<Rooms> {
      const clock = new ManualClock();
      const rooms = makeRooms(clock, await twoProcesses(clock));
      opened.push(rooms);
      return rooms;
    }

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((rooms) => rooms.close()));
    });

    it('announces nothing when the tab comes back on the other process within the grace period', async () => {
      const room = await start();
      const ada = await room.signIn(0, 'Ada');
      await room.exit(0, ada, await room.enter(0, ada));
      await room.elapse(GRACE_MS - 1000);
      const back = await room.enter(1, ada);
      // The first process's timer fires meanwhile, and finds the user back.
      await room.elapse(3 * GRACE_MS);
      expect(room.notices).toEqual(['joined Ada']);
      await room.exit(1, ada, back);
      await room.elapse(GRACE_MS);
      expect(room.notices).toEqual(['joined Ada', 'left Ada']);
    });

    it('lets another process announce "left" when the one whose timer held the grace period died', async () => {
      const room = await start();
      const ada = await room.signIn(0, 'Ada');
      await room.exit(0, ada, await room.enter(0, ada));
      await room.rooms[0]!.close();
      await room.elapse(GRACE_MS);
      expect(room.notices).toEqual(['joined Ada']);
      // The survivor's first beat once the grace period has been over for a beat.
      await room.elapse(LIVENESS_MS);
      expect(room.notices).toEqual(['joined Ada', 'left Ada']);
      await room.elapse(3 * GRACE_MS);
      expect(room.notices).toEqual(['joined Ada', 'left Ada']);
    });

    it('announces the users of a process that died as left within four beats, but not those with a tab elsewhere', async () => {
      const room = await start();
      const ada = await room.signIn(0, 'Ada');
      const cy = await room.signIn(1, 'Cy');
      await room.enter(0, ada);
      await room.enter(0, cy);
      await room.enter(1, cy);
      await room.elapse(LIVENESS_MS);
      // Dies (no exit, no goodbye) right after a beat.
      await room.rooms[0]!.close();
      await room.elapse(DEAD_AFTER_MS - LIVENESS_MS);
      expect(room.notices).toEqual(['joined Ada', 'joined Cy']);
      await room.elapse(2 * LIVENESS_MS);
      expect(room.notices).toEqual(['joined Ada', 'joined Cy', 'left Ada']);
      await room.elapse(3 * GRACE_MS);
      expect(room.notices).toEqual(['joined Ada', 'joined Cy', 'left Ada']);
    });

    it('announces nothing for a user of a process that died who came back on another meanwhile', async () => {
      const room = await start();
      const ada = await room.signIn(0, 'Ada');
      await room.enter(0, ada);
      await room.rooms[0]!.close();
      await room.elapse(LIVENESS_MS);
      await room.enter(1, ada);
      await room.elapse(3 * GRACE_MS);
      expect(room.notices).toEqual(['joined Ada']);
    });
  });
});
