import { describe, expect, it } from 'vitest';
import { applyMessage, forgetVersion, parseMessage, UNKNOWN_CART } from './cart-state.js';

describe('cart state', () => {
  it('applies the stock and the cart from a cart message', () => {
    const state = applyMessage(UNKNOWN_CART, {
      inventoryCount: 9,
      version: 1,
      inCart: true,
      expiresAt: '2030-01-01T00:00:00.000Z',
    });
    expect(state).toEqual({
      inventoryCount: 9,
      inCart: true,
      expiresAt: '2030-01-01T00:00:00.000Z',
      stockVersion: 1,
      cartVersion: 1,
    });
  });

  it('a stock message changes the count, never the cart', () => {
    const held = applyMessage(UNKNOWN_CART, {
      inventoryCount: 9,
      version: 1,
      inCart: true,
      expiresAt: null,
    });
    expect(applyMessage(held, { inventoryCount: 4, version: 6 })).toMatchObject({
      inventoryCount: 4,
      inCart: true,
      stockVersion: 6,
      cartVersion: 1,
    });
  });

  it('ignores what is older than what it has, whichever path it came by', () => {
    let state = applyMessage(UNKNOWN_CART, { inventoryCount: 3, version: 7 });
    state = applyMessage(state, { inventoryCount: 4, version: 6, inCart: true, expiresAt: null });
    expect(state).toMatchObject({ inventoryCount: 3, inCart: true, stockVersion: 7 });
    state = applyMessage(state, { inventoryCount: 4, version: 5, inCart: false, expiresAt: null });
    expect(state.inCart).toBe(true);
  });

  it('after a gap, a restarted server counting from 0 is believed, part by part', () => {
    const old = applyMessage(UNKNOWN_CART, {
      inventoryCount: 1,
      version: 40,
      inCart: true,
      expiresAt: '2026-01-01T00:15:00.000Z',
    });
    const snapshot = { inventoryCount: 10, version: 0, inCart: false, expiresAt: null };
    // The stock's topic had a gap, not yet the cart's: only the stock is believed.
    const stockOnly = applyMessage(forgetVersion(old, 'stock'), snapshot);
    expect(stockOnly).toMatchObject({ inventoryCount: 10, stockVersion: 0, inCart: true });
    expect(stockOnly.cartVersion).toBe(40);
    // Both had one (the server restarted: every topic starts a new history): all of it is.
    const both = applyMessage(forgetVersion(forgetVersion(old, 'stock'), 'cart'), snapshot);
    expect(both).toEqual({
      inventoryCount: 10,
      inCart: false,
      expiresAt: null,
      stockVersion: 0,
      cartVersion: 0,
    });
  });

  it('parses messages and rejects anything else', () => {
    expect(parseMessage('{"inventoryCount":3,"version":1}')).toEqual({
      inventoryCount: 3,
      version: 1,
    });
    expect(parseMessage({ inventoryCount: 3, version: 1, inCart: false, expiresAt: null })).toEqual(
      { inventoryCount: 3, version: 1, inCart: false, expiresAt: null },
    );
    for (const bad of [
      'not json',
      '"3"',
      'null',
      '{"inventoryCount":-1,"version":1}',
      '{"inventoryCount":"3","version":1}',
      '{"inventoryCount":3}',
      '{"inventoryCount":3,"version":1,"inCart":"yes","expiresAt":null}',
      '{"inventoryCount":3,"version":1,"inCart":true,"expiresAt":5}',
    ]) {
      expect(parseMessage(bad)).toBeNull();
    }
  });
});
