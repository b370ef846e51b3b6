import { ManualClock } from '@gale/test-utils';
import { expect, it } from 'vitest';
import type { ChatMessage, History } from '../server/history.js';
import type { NicknameRegistry } from '../server/nickname-registry.js';
import type { Presence } from '../server/presence.js';

// What every implementation of the three stores must do, in memory or in Redis. Each factory
// gives two handles on one store: two server processes sharing it (the same object in memory),
// measuring time by the clock it is given, which the tests step.

export type Pair<T> = (clock: ManualClock) => Promise<readonly [T, T]>;

export function registryContract(make: Pair<NicknameRegistry>): void {
  it('gives a free nickname to exactly one of many concurrent claimants', async () => {
    const [one, two] = await make(new ManualClock());
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? one : two).claim('ada', `owner-${i}`)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('treats nicknames case-insensitively and after NFKC', async () => {
    const [one, two] = await make(new ManualClock());
    expect(await one.claim('Ada', 'a')).toBe(true);
    expect(await two.claim('ADA', 'b')).toBe(false);
    expect(await two.claim('ａｄａ', 'b')).toBe(false);
    expect(await one.claim('Straße', 'a')).toBe(true);
    expect(await two.claim('STRASSE', 'b')).toBe(false);
  });

  it('treats names that look alike as one, and says who holds it, as registered', async () => {
    const [one, two] = await make(new ManualClock());
    expect(await one.claim('Ada', 'a')).toBe(true);
    // Cyrillic А (U+0410), а (U+0430), a zero for the O of "Bob".
    expect(await two.claim('\u0410da', 'b')).toBe(false);
    expect(await two.claim('\u0430d\u0430', 'b')).toBe(false);
    expect(await two.holder('\u0410da')).toBe('Ada');
    expect(await two.holder('ADA')).toBe('Ada');
    expect(await one.claim('Bob', 'a')).toBe(true);
    expect(await two.claim('B0B', 'b')).toBe(false);
    expect(await two.holder('B0B')).toBe('Bob');
    expect(await two.holder('Cy')).toBeNull();
    expect(await one.release('Ada', 'a')).toBe(true);
    expect(await two.holder('Ada')).toBeNull();
    expect(await two.claim('\u0410da', 'b')).toBe(true);
    expect(await one.holder('Ada')).toBe('\u0410da');
  });

  it('lets the owner claim again, and only the owner release', async () => {
    const [one, two] = await make(new ManualClock());
    expect(await one.claim('ada', 'a')).toBe(true);
    expect(await two.claim('ada', 'a')).toBe(true);
    expect(await two.release('ada', 'b')).toBe(false);
    expect(await two.claim('ada', 'b')).toBe(false);
    expect(await two.release('ADA', 'a')).toBe(true);
    expect(await one.release('ada', 'a')).toBe(false);
    expect(await two.claim('ada', 'b')).toBe(true);
  });

  it('frees a claim whose hold lapsed', async () => {
    const clock = new ManualClock();
    const [one, two] = await make(clock);
    expect(await one.claim('ada', 'a', 30)).toBe(true);
    clock.advance(29);
    expect(await two.claim('ada', 'b', 60_000)).toBe(false);
    clock.advance(1);
    expect(await two.claim('ada', 'b', 60_000)).toBe(true);
    expect(await one.claim('ada', 'a')).toBe(false);
  });

  it("renews only its owner's claim, and not once it was released", async () => {
    const [one, two] = await make(new ManualClock());
    expect(await one.claim('ada', 'a', 60_000)).toBe(true);
    expect(await two.renew('ADA', 'a', 60_000)).toBe(true);
    expect(await two.renew('ada', 'b', 60_000)).toBe(false);
    expect(await two.claim('ada', 'b')).toBe(false);
    expect(await one.release('ada', 'a')).toBe(true);
    expect(await two.renew('ada', 'a', 60_000)).toBe(false);
    // Released is free: for anyone, the old owner too.
    expect(await two.claim('ada', 'a', 60_000)).toBe(true);
  });

  it('refuses every claim and renewal of a revoked owner until the revocation lapses', async () => {
    const clock = new ManualClock();
    const [one, two] = await make(clock);
    expect(await one.claim('ada', 'a', 60_000)).toBe(true);
    expect(await two.isRevoked('a')).toBe(false);
    await two.revoke('a', 1000);
    expect(await one.isRevoked('a')).toBe(true);
    expect(await two.isRevoked('b')).toBe(false);
    expect(await one.renew('ada', 'a', 60_000)).toBe(false);
    // Its claim is not released by that, but it can be; then the name is free for anyone else,
    // never for the revoked owner.
    expect(await two.claim('ada', 'b')).toBe(false);
    expect(await one.release('ada', 'a')).toBe(true);
    expect(await two.claim('ada', 'a', 60_000)).toBe(false);
    expect(await one.claim('bob', 'a', 60_000)).toBe(false);
    // A shorter revocation does not cut a longer one short.
    await one.revoke('a', 10);
    clock.advance(999);
    expect(await one.isRevoked('a')).toBe(true);
    expect(await two.claim('ada', 'a', 60_000)).toBe(false);
    clock.advance(1);
    expect(await two.isRevoked('a')).toBe(false);
    expect(await two.claim('ada', 'a', 60_000)).toBe(true);
    expect(await one.renew('ada', 'a', 60_000)).toBe(true);
  });

  it('renews a lapsed claim that nobody took meanwhile', async () => {
    const clock = new ManualClock();
    const [one, two] = await make(clock);
    expect(await one.claim('ada', 'a', 1)).toBe(true);
    clock.advance(20);
    expect(await two.renew('ada', 'a', 60_000)).toBe(true);
    expect(await two.claim('ada', 'b')).toBe(false);
  });
}

export function presenceContract(make: Pair<Presence>): void {
  it('joins on the first connection anywhere and leaves with the last', async () => {
    const [one, two] = await make(new ManualClock());
    expect(await one.join('ada', 'tab1')).toBe(true);
    expect(await two.join('Ada', 'tab2')).toBe(false);
    expect(await one.count('ada')).toBe(2);
    expect(await one.leave('ada', 'tab1', 5000)).toBe(false);
    expect(await two.leave('ada', 'tab1', 5000)).toBe(false);
    expect(await two.leave('ada', 'tab2', 5000)).toBe(true);
    expect(await one.count('ada')).toBe(0);
    // Left once the grace period is confirmed over; then a connection is a join again.
    expect(await two.confirmLeave('ADA', 'tab2')).toBe(true);
    expect(await one.confirmLeave('ada', 'tab2')).toBe(false);
    expect(await one.join('ada', 'tab3')).toBe(true);
  });

  it('reports one first join and one last leave under concurrency', async () => {
    const [one, two] = await make(new ManualClock());
    const ids = Array.from({ length: 20 }, (_, i) => `tab${i}`);
    const joined = await Promise.all(ids.map((id, i) => (i % 2 ? one : two).join('ada', id)));
    expect(joined.filter(Boolean)).toHaveLength(1);
    const left = await Promise.all(ids.map((id, i) => (i % 3 ? one : two).leave('ada', id, 5000)));
    expect(left.filter(Boolean)).toHaveLength(1);
  });

  it('takes a connection back within the grace period for no join, and the leave for none', async () => {
    const [one, two] = await make(new ManualClock());
    expect(await one.join('ada', 'tab1')).toBe(true);
    expect(await one.leave('ada', 'tab1', 5000)).toBe(true);
    // Back, on the other process: the user never left.
    expect(await two.join('Ada', 'tab2')).toBe(false);
    expect(await one.confirmLeave('ada', 'tab1')).toBe(false);
    expect(await two.count('ada')).toBe(1);
    // Its own leave starts a grace period of its own, which only that leave confirms.
    expect(await two.leave('ada', 'tab2', 5000)).toBe(true);
    expect(await one.confirmLeave('ada', 'tab1')).toBe(false);
    expect(await one.confirmLeave('ada', 'tab2')).toBe(true);
    expect(await two.confirmLeave('ada', 'tab2')).toBe(false);
  });

  it('removes every connection on leaveAll, after which leave reports nothing', async () => {
    const [one, two] = await make(new ManualClock());
    await one.join('ada', 'tab1');
    await two.join('ada', 'tab2');
    expect(await one.leaveAll('ada')).toBe(true);
    expect(await two.leaveAll('ada')).toBe(false);
    expect(await two.leave('ada', 'tab2', 5000)).toBe(false);
    expect(await one.join('ada', 'tab3')).toBe(true);
  });

  it('counts a user within the grace period as present for leaveAll, which ends it', async () => {
    const [one, two] = await make(new ManualClock());
    await one.join('ada', 'tab1');
    expect(await one.leave('ada', 'tab1', 5000)).toBe(true);
    expect(await two.leaveAll('ada')).toBe(true);
    expect(await one.confirmLeave('ada', 'tab1')).toBe(false);
    expect(await two.leaveAll('ada')).toBe(false);
    expect(await one.join('ada', 'tab2')).toBe(true);
  });

  it('changes nothing on a refresh that matches what it has', async () => {
    const [one] = await make(new ManualClock());
    await one.join('Ada', 'tab1');
    expect(await one.refresh([{ nickname: 'Ada', connectionId: 'tab1' }])).toEqual({
      joined: [],
      left: [],
    });
    expect(await one.count('ada')).toBe(1);
  });

  it('ends no grace period on a beat before it is over', async () => {
    const clock = new ManualClock();
    const [one, two] = await make(clock);
    await one.join('ada', 'tab1');
    expect(await one.leave('ada', 'tab1', 5000)).toBe(true);
    clock.advance(4999);
    expect((await two.beat()).left).toEqual([]);
    expect(await one.confirmLeave('ada', 'tab1')).toBe(true);
  });
}

export function historyContract(make: Pair<History>): void {
  const message = (i: number): ChatMessage => ({
    type: 'message',
    from: 'ada',
    text: `m${i}`,
    at: new Date(i * 1000).toISOString(),
  });

  it('keeps the last messages up to its capacity (50), oldest first, for everyone', async () => {
    const [one, two] = await make(new ManualClock());
    for (let i = 1; i <= 175; i++) await (i % 2 ? one : two).append(message(i));
    const last = await two.last(50);
    expect(last.map((m) => m.text)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i + 126}`));
    expect((await one.last(3)).map((m) => m.text)).toEqual(['m173', 'm174', 'm175']);
    expect(await one.last(500)).toHaveLength(50);
    expect(await one.last(0)).toEqual([]);
  });

  it('returns what there is when it holds fewer', async () => {
    const [one, two] = await make(new ManualClock());
    expect(await one.last(50)).toEqual([]);
    await two.append(message(1));
    expect(await one.last(50)).toEqual([message(1)]);
  });
}
