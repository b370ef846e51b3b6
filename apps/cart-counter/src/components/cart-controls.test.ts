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

  it('sold out: Add to Cart is disabled (still focusable) and described by a visible reason', async () => {
    const el = await fixture({ inventoryCount: 0 });
    const add = button(el);
    expect(add.textContent).toBe('Add to Cart');
    expect(add.getAttribute('aria-disabled')).toBe('true');
    expect(add.disabled).toBe(false);
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
    expect(button(el).getAttribute('aria-disabled')).toBe('true');
    expect(button(el).getAttribute('aria-busy')).toBe('true');
    const fired = actions(el);
    button(el).click();
    expect(fired).toEqual([]);
  });

  it('before the stock is known, nothing can be added', async () => {
    const el = await fixture({});
    expect(text(el)).toContain('Checking stock…');
    expect(button(el).getAttribute('aria-disabled')).toBe('true');
    const fired = actions(el);
    button(el).click();
    expect(fired).toEqual([]);
  });

  it('keeps the same button, and the focus on it, through add, remove, a request and selling out', async () => {
    const el = await fixture({ inventoryCount: 1 });
    const same = button(el);
    same.focus();
    for (const props of [
      { pending: 'add' },
      { pending: null, inCart: true, inventoryCount: 0 },
      { inCart: false, inventoryCount: 1 },
      { inventoryCount: 0 },
    ] as const) {
      Object.assign(el, props);
      await el.updateComplete;
      expect(button(el)).toBe(same);
      expect(el.shadowRoot!.activeElement).toBe(same);
    }
    expect(same.textContent).toBe('Add to Cart');
    expect(same.getAttribute('aria-disabled')).toBe('true');
  });

  it('has no live region of its own (the page announces changes once)', async () => {
    const el = await fixture({ inventoryCount: 3, inCart: true });
    expect(el.shadowRoot!.querySelector('[aria-live], [role="status"], [role="alert"]')).toBeNull();
  });
});
