import { describe, expect, it } from 'vitest';
import { applyMessage, forgetVersions, parseMessage, UNKNOWN_CART } from './cart-state.js';

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

  it('after forgetVersions, a restarted server counting from 0 is believed', () => {
    const old = applyMessage(UNKNOWN_CART, { inventoryCount: 1, version: 40 });
    const state = applyMessage(forgetVersions(old), {
      inventoryCount: 10,
      version: 0,
      inCart: false,
      expiresAt: null,
    });
    expect(state.inventoryCount).toBe(10);
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
