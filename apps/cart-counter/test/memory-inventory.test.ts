import { ManualClock } from '@gale/test-utils';
import { describe, expect, it, vi } from 'vitest';
import type { InventoryChange } from '../server/inventory.js';
import { MemoryInventory } from '../server/memory-inventory.js';
import { DEFAULT_RESERVATION_TTL_MS } from '../server.js';

const MINUTE = 60_000;

function inventory(stock = 10, reservationTtlMs = 15 * MINUTE, clock?: ManualClock) {
  return new MemoryInventory({ stock, reservationTtlMs, clock });
}

describe('MemoryInventory', () => {
  it('starts with the whole stock and nobody holding a copy', async () => {
    const stock = inventory(10);
    expect(await stock.status(null)).toEqual({
      inventoryCount: 10,
      version: 0,
      inCart: false,
      expiresAt: null,
    });
    expect((await stock.status('alice')).inCart).toBe(false);
  });

  it('reserves one copy per session: a second reserve succeeds and changes nothing', async () => {
    const stock = inventory(10);
    const first = await stock.reserve('alice');
    expect(first).toMatchObject({ ok: true, inventoryCount: 9, inCart: true, version: 1 });
    const again = await stock.reserve('alice');
    expect(again).toEqual(first);
    expect((await stock.status(null)).inventoryCount).toBe(9);
  });

  it('releases a held copy; releasing none succeeds and changes nothing', async () => {
    const stock = inventory(10);
    await stock.reserve('alice');
    expect(await stock.release('alice')).toEqual({
      inventoryCount: 10,
      version: 2,
      inCart: false,
      expiresAt: null,
    });
    expect(await stock.release('alice')).toMatchObject({ inventoryCount: 10, version: 2 });
    expect(await stock.release('nobody')).toMatchObject({ inventoryCount: 10, version: 2 });
  });

  it('refuses a reservation when sold out, and never counts below zero', async () => {
    const stock = inventory(2);
    await stock.reserve('a');
    await stock.reserve('b');
    const refused = await stock.reserve('c');
    expect(refused).toMatchObject({
      ok: false,
      reason: 'sold-out',
      inventoryCount: 0,
      inCart: false,
    });
    // Holders still succeed (idempotently), and a release makes room for the next one.
    expect(await stock.reserve('a')).toMatchObject({ ok: true, inventoryCount: 0 });
    await stock.release('a');
    expect(await stock.reserve('c')).toMatchObject({ ok: true, inventoryCount: 0 });
  });

  it('never oversells: 10 concurrent reservations against 5 left, exactly 5 succeed', async () => {
    const stock = inventory(10);
    for (const session of ['h1', 'h2', 'h3', 'h4', 'h5']) await stock.reserve(session);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => stock.reserve(`buyer-${i}`)),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(5);
    expect(results.filter((r) => !r.ok)).toHaveLength(5);
    expect((await stock.status(null)).inventoryCount).toBe(0);
  });

  it('keeps the count between 0 and the stock under any mix of concurrent calls', async () => {
    const stock = inventory(3);
    const sessions = ['a', 'b', 'c', 'd', 'e'];
    const calls = Array.from({ length: 200 }, (_, i) => {
      const session = sessions[(i * 7) % sessions.length]!;
      return i % 3 === 0 ? stock.release(session) : stock.reserve(session);
    });
    const results = await Promise.all(calls);
    for (const result of results) {
      expect(result.inventoryCount).toBeGreaterThanOrEqual(0);
      expect(result.inventoryCount).toBeLessThanOrEqual(3);
    }
  });

  it('tells listeners about every change, with a growing version, and only about changes', async () => {
    const stock = inventory(10);
    const changes: InventoryChange[] = [];
    stock.onChange((change) => changes.push(change));
    await stock.reserve('alice');
    await stock.reserve('alice'); // no change
    await stock.release('bob'); // no change
    await stock.release('alice');
    expect(
      changes.map(({ session, cause, inventoryCount, version, inCart }) => ({
        session,
        cause,
        inventoryCount,
        version,
        inCart,
      })),
    ).toEqual([
      { session: 'alice', cause: 'reserved', inventoryCount: 9, version: 1, inCart: true },
      { session: 'alice', cause: 'released', inventoryCount: 10, version: 2, inCart: false },
    ]);
  });

  it('a listener that throws does not undo the change or hide it from the others', async () => {
    const stock = inventory(10);
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const seen: number[] = [];
    stock.onChange(() => {
      throw new Error('broken listener');
    });
    stock.onChange((change) => seen.push(change.inventoryCount));
    expect(await stock.reserve('alice')).toMatchObject({ ok: true, inventoryCount: 9 });
    expect(seen).toEqual([9]);
    expect(error).toHaveBeenCalledOnce();
    error.mockRestore();
  });

  it('releases a reservation after the default TTL of 15 minutes, and says so', async () => {
    const clock = new ManualClock(1_000_000);
    const stock = inventory(10, DEFAULT_RESERVATION_TTL_MS, clock);
    expect(DEFAULT_RESERVATION_TTL_MS).toBe(15 * MINUTE);
    const changes: InventoryChange[] = [];
    stock.onChange((change) => changes.push(change));
    const reserved = await stock.reserve('alice');
    expect(reserved.expiresAt).toBe(1_000_000 + 15 * MINUTE);

    clock.advance(15 * MINUTE - 1);
    expect((await stock.status('alice')).inCart).toBe(true);
    clock.advance(1);
    expect(await stock.status('alice')).toMatchObject({ inCart: false, inventoryCount: 10 });
    expect(changes.at(-1)).toMatchObject({
      session: 'alice',
      cause: 'expired',
      inventoryCount: 10,
    });
  });

  it('does not extend a reservation when the holder reserves again', async () => {
    const clock = new ManualClock(0);
    const stock = inventory(10, 10 * MINUTE, clock);
    await stock.reserve('alice');
    clock.advance(9 * MINUTE);
    expect((await stock.reserve('alice')).expiresAt).toBe(10 * MINUTE);
    clock.advance(1 * MINUTE);
    expect((await stock.status('alice')).inCart).toBe(false);
  });

  it('a released copy has no expiry left to fire', async () => {
    const clock = new ManualClock(0);
    const stock = inventory(10, MINUTE, clock);
    const changes: InventoryChange[] = [];
    stock.onChange((change) => changes.push(change));
    await stock.reserve('alice');
    clock.advance(MINUTE / 2);
    await stock.release('alice');
    await stock.reserve('alice');
    clock.advance(MINUTE / 2);
    expect((await stock.status('alice')).inCart).toBe(true);
    clock.advance(MINUTE / 2);
    expect(changes.map((c) => c.cause)).toEqual(['reserved', 'released', 'reserved', 'expired']);
  });

  it('close() stops the expiry timers', async () => {
    const clock = new ManualClock(0);
    const stock = inventory(10, MINUTE, clock);
    await stock.reserve('alice');
    expect(clock.pending).toBe(1);
    await stock.close();
    expect(clock.pending).toBe(0);
  });

  it('refuses a stock or TTL that is not a suitable integer', () => {
    expect(() => inventory(-1)).toThrow(RangeError);
    expect(() => inventory(1.5)).toThrow(RangeError);
    expect(() => inventory(10, 0)).toThrow(RangeError);
    expect(() => inventory(10, Number.NaN)).toThrow(RangeError);
    expect(() => inventory(0)).not.toThrow();
  });
});
