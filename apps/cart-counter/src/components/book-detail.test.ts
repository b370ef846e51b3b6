import { afterEach, describe, expect, it } from 'vitest';
import './book-detail.js';

afterEach(() => {
  document.body.replaceChildren();
});

describe('<book-detail>', () => {
  it('shows the title, the author, the price and a labelled cover, with the slot below', async () => {
    const el = document.createElement('book-detail');
    el.bookTitle = 'The Definitive Guide to the Internet';
    el.author = 'Anonymous';
    el.price = '$20.00';
    const slotted = document.createElement('button');
    slotted.textContent = 'Add to Cart';
    el.append(slotted);
    document.body.append(el);
    await el.updateComplete;
    const root = el.shadowRoot!;
    expect(root.querySelector('h2')!.textContent).toBe('The Definitive Guide to the Internet');
    expect(root.querySelector('.author')!.textContent).toBe('by Anonymous');
    // The price is read as "Price: $20.00"; "Price:" is for screen readers only.
    expect(root.querySelector('.price')!.textContent).toBe('Price: $20.00');
    expect(root.querySelector('.price .visually-hidden')!.textContent).toBe('Price: ');
    expect(root.querySelector('[role="img"]')!.getAttribute('aria-label')).toBe(
      'Cover of The Definitive Guide to the Internet',
    );
    expect(root.querySelector('slot')!.assignedElements()).toEqual([slotted]);
  });

  it('renders text as text, never as markup', async () => {
    const el = document.createElement('book-detail');
    el.bookTitle = '<img src=x onerror=alert(1)>';
    document.body.append(el);
    await el.updateComplete;
    expect(el.shadowRoot!.querySelector('img')).toBeNull();
    expect(el.shadowRoot!.querySelector('h2')!.textContent).toBe('<img src=x onerror=alert(1)>');
  });
});
