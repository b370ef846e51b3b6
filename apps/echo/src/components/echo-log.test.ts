import { afterEach, describe, expect, it } from 'vitest';
import './echo-log.js';

afterEach(() => {
  document.body.replaceChildren();
});

describe('<echo-log>', () => {
  it('renders one list item per entry, in order, with its direction as a class', async () => {
    const el = document.createElement('echo-log');
    el.entries = [
      { id: 1, direction: 'sent', text: 'hi' },
      { id: 2, direction: 'received', text: 'You said: hi' },
    ];
    document.body.append(el);
    await el.updateComplete;
    const items = [...el.shadowRoot!.querySelectorAll('li')];
    expect(items.map((li) => [li.className, li.textContent])).toEqual([
      ['sent', 'hi'],
      ['received', 'You said: hi'],
    ]);
  });

  it('renders markup as text, never as elements', async () => {
    const el = document.createElement('echo-log');
    el.entries = [{ id: 1, direction: 'received', text: '<img src=x onerror=alert(1)>' }];
    document.body.append(el);
    await el.updateComplete;
    expect(el.shadowRoot!.querySelector('img')).toBeNull();
    expect(el.shadowRoot!.querySelector('li')!.textContent).toBe('<img src=x onerror=alert(1)>');
  });
});
