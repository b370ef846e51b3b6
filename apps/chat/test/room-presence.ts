import { ManualClock } from '@gale/test-utils';
import { afterEach, expect, it } from 'vitest';
import { DEFAULT_PRESENCE_GRACE_MS } from '../server/chat-room.js';
import { makeRooms, type RoomParts, type Rooms } from './rooms.js';

// What the room announces as users come and go, with the default grace period (5 s): the same
// in memory and in Redis. `make` gives two processes' stores, sharing one room (the same objects
// in memory, where both "processes" are one).
const GRACE_MS = DEFAULT_PRESENCE_GRACE_MS;

export function roomPresenceContract(
  make: (clock: ManualClock) => Promise<readonly [RoomParts, RoomParts]>,
): void {
  const opened: Rooms[] = [];

  async function start(options: { presenceGraceMs?: number; releaseAfterMs?: number } = {}) {
    const clock = new ManualClock();
    const rooms = makeRooms(clock, await make(clock), options);
    opened.push(rooms);
    return { clock, ...rooms };
  }

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((rooms) => rooms.close()));
  });

  it('announces "left" once the grace period after the last tab closed is over, not before', async () => {
    const room = await start();
    const ada = await room.signIn(0, 'Ada');
    const tab = await room.enter(0, ada);
    await room.exit(0, ada, tab);
    await room.elapse(GRACE_MS - 1);
    expect(room.notices).toEqual(['joined Ada']);
    await room.elapse(1);
    expect(room.notices).toEqual(['joined Ada', 'left Ada']);
    // And nothing more later.
    await room.elapse(3 * GRACE_MS);
    expect(room.notices).toEqual(['joined Ada', 'left Ada']);
  });

  it('announces neither "left" nor "joined" for a reload within the grace period', async () => {
    const room = await start();
    const ada = await room.signIn(0, 'Ada');
    const before = await room.enter(0, ada);
    await room.exit(0, ada, before);
    await room.elapse(GRACE_MS - 1000);
    const after = await room.enter(0, ada);
    await room.elapse(3 * GRACE_MS);
    expect(room.notices).toEqual(['joined Ada']);
    // The reloaded tab closing is a leave of its own, with a grace period of its own.
    await room.exit(0, ada, after);
    await room.elapse(GRACE_MS - 1);
    expect(room.notices).toEqual(['joined Ada']);
    await room.elapse(1);
    expect(room.notices).toEqual(['joined Ada', 'left Ada']);
  });

  it('announces nothing when one of two tabs closes, and "left" once the other has for the grace period', async () => {
    const room = await start();
    const ada = await room.signIn(0, 'Ada');
    const one = await room.enter(0, ada);
    const two = await room.enter(1, ada);
    await room.exit(0, ada, one);
    await room.elapse(3 * GRACE_MS);
    expect(room.notices).toEqual(['joined Ada']);
    await room.exit(1, ada, two);
    await room.elapse(GRACE_MS);
    expect(room.notices).toEqual(['joined Ada', 'left Ada']);
  });

  it('announces one "left" after reloads in a row, a grace period after the last tab closed', async () => {
    const room = await start();
    const ada = await room.signIn(0, 'Ada');
    let tab = await room.enter(0, ada);
    for (const [index, after] of [
      [1, 1000],
      [0, 4000],
      [1, 10],
    ] as const) {
      await room.exit(index === 0 ? 1 : 0, ada, tab);
      await room.elapse(after);
      tab = await room.enter(index, ada);
    }
    await room.exit(1, ada, tab);
    await room.elapse(GRACE_MS - 1);
    expect(room.notices).toEqual(['joined Ada']);
    await room.elapse(1);
    expect(room.notices).toEqual(['joined Ada', 'left Ada']);
  });

  it('announces "left" at once on a logout within the grace period, and not again', async () => {
    const room = await start();
    const ada = await room.signIn(0, 'Ada');
    await room.exit(0, ada, await room.enter(0, ada));
    await room.elapse(1000);
    await room.rooms[1]!.signOut(ada);
    expect(room.notices).toEqual(['joined Ada', 'left Ada']);
    await room.elapse(3 * GRACE_MS);
    expect(room.notices).toEqual(['joined Ada', 'left Ada']);
  });

  it('announces "left" at once with presenceGraceMs: 0', async () => {
    const room = await start({ presenceGraceMs: 0 });
    const ada = await room.signIn(0, 'Ada');
    await room.exit(0, ada, await room.enter(0, ada));
    expect(room.notices).toEqual(['joined Ada', 'left Ada']);
  });

  it('holds the nickname for the release delay from when the user was announced as left', async () => {
    const room = await start({ releaseAfterMs: 20_000 });
    const ada = await room.signIn(0, 'Ada');
    await room.exit(0, ada, await room.enter(0, ada));
    await room.elapse(GRACE_MS);
    expect(room.notices).toEqual(['joined Ada', 'left Ada']);
    await room.elapse(20_000 - 1);
    expect((await room.rooms[1]!.signIn('Ada', null)).ok).toBe(false);
    await room.elapse(1);
    expect((await room.rooms[1]!.signIn('Ada', null)).ok).toBe(true);
  });

  it('leaves no timer behind once closed', async () => {
    const room = await start();
    const ada = await room.signIn(0, 'Ada');
    await room.exit(0, ada, await room.enter(0, ada));
    await room.close();
    expect(room.clock.pending).toBe(0);
  });
}
