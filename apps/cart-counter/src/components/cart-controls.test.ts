import { afterEach, describe, expect, it } from 'vitest';
import type { CartAction } from '../../server/messages.js';
import type { CartControls } from './cart-controls.js';
import './cart-controls.js';

async function fixture(props: Partial<CartControls>): Promise<CartControls> {
  const el = document.createElement('cart-controls');
  Object.assign(el, props);
  document.body.append(el);
  await el.updateComplete;
  return el;
}

function button(el: CartControls): HTMLButtonElement {
  return el.shadowRoot!.querySelector('button')!;
}

function text(el: CartControls): string {
  return el.shadowRoot!.textContent!.replace(/\s+/g, ' ').trim();
}

function actions(el: CartControls): CartAction[] {
  const fired: CartAction[] = [];
  el.addEventListener('cart-action', (event) => fired.push(event.detail.action));
  return fired;
}

afterEach(() => {
  document.body.replaceChildren();
});

describe('<cart-controls>', () => {
  it('says how many are left, and Add to Cart fires cart-action "add"', async () => {
    const el = await fixture({ inventoryCount: 7 });
    expect(el.shadowRoot!.querySelector('.stock')!.textContent).toBe(
      'Only 7 left in stock! Order now!',
    );
    const fired = actions(el);
    expect(button(el).textContent).toBe('Add to Cart');
    button(el).click();
    expect(fired).toEqual(['add']);
  });

  it('follows the count as it changes', async () => {
    const el = await fixture({ inventoryCount: 7 });
    el.inventoryCount = 6;
    await el.updateComplete;
    expect(text(el)).toContain('Only 6 left in stock! Order now!');
  });

  it('sold out: Add to Cart is disabled and described by a visible reason', async () => {
    const el = await fixture({ inventoryCount: 0 });
    const add = button(el);
    expect(add.textContent).toBe('Add to Cart');
    expect(add.disabled).toBe(true);
    const reason = el.shadowRoot!.getElementById(add.getAttribute('aria-describedby')!)!;
    expect(reason.textContent).toMatch(/Every copy is in someone's cart/);
    expect(text(el)).toContain('Sold out');
    const fired = actions(el);
    add.click();
    expect(fired).toEqual([]);
  });

  it('in the cart: "One copy is in your cart.", the hold time, and Remove from Cart', async () => {
    const el = await fixture({
      inventoryCount: 0,
      inCart: true,
      expiresAt: '2030-01-01T12:34:00Z',
    });
    expect(el.shadowRoot!.querySelector('.in-cart')!.textContent).toBe('One copy is in your cart.');
    expect(text(el)).toMatch(/holding it for you until \S+/);
    expect(text(el)).toContain('No other copies left.');
    el.inventoryCount = 3;
    await el.updateComplete;
    expect(text(el)).toContain('3 other copies left.');
    const fired = actions(el);
    expect(button(el).textContent).toBe('Remove from Cart');
    button(el).click();
    expect(fired).toEqual(['remove']);
  });

  it('while a request is on its way, the button is disabled and busy', async () => {
    const el = await fixture({ inventoryCount: 3, pending: 'add' });
    expect(button(el).disabled).toBe(true);
    expect(button(el).getAttribute('aria-busy')).toBe('true');
    const fired = actions(el);
    button(el).click();
    expect(fired).toEqual([]);
  });

  it('before the stock is known, nothing can be added', async () => {
    const el = await fixture({});
    expect(text(el)).toContain('Checking stock…');
    expect(button(el).disabled).toBe(true);
  });
});
