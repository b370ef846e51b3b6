import { afterEach, describe, expect, it } from 'vitest';
import './echo-log.js';

afterEach(() => {
  document.body.replaceChildren();
});

async function fixture(
  entries: HTMLElementTagNameMap['echo-log']['entries'] = [],
): Promise<HTMLElementTagNameMap['echo-log']> {
  const el = document.createElement('echo-log');
  el.entries = entries;
  document.body.append(el);
  await el.updateComplete;
  return el;
}

describe('<echo-log>', () => {
  it('is a live region that says it is empty until the first line', async () => {
    const el = await fixture();
    const log = el.shadowRoot!.querySelector('[role="log"]')!;
    expect(log.getAttribute('aria-label')).toBe('Messages');
    expect(log.getAttribute('aria-live')).toBe('polite');
    expect(log.textContent).toMatch(/^No messages yet\./);
    expect(log.querySelector('li')).toBeNull();
  });

  it('renders one list item per entry, in order, read as who said it, then the text', async () => {
    const el = await fixture([
      { id: 1, direction: 'sent', text: 'hi' },
      { id: 2, direction: 'received', text: 'You said: hi' },
      { id: 3, direction: 'info', text: 'Switched to /echo' },
    ]);
    const items = [...el.shadowRoot!.querySelectorAll('[role="log"] li')];
    expect(items.map((li) => [li.className, li.textContent])).toEqual([
      ['sent', 'You: hi'],
      ['received', 'Server: You said: hi'],
      ['info', 'Switched to /echo'],
    ]);
    expect(el.shadowRoot!.textContent).not.toMatch(/No messages yet/);
  });

  it('renders markup as text, never as elements', async () => {
    const el = await fixture([
      { id: 1, direction: 'received', text: '<img src=x onerror=alert(1)>' },
    ]);
    expect(el.shadowRoot!.querySelector('img')).toBeNull();
    expect(el.shadowRoot!.querySelector('li .text')!.textContent).toBe(
      '<img src=x onerror=alert(1)>',
    );
  });
});
