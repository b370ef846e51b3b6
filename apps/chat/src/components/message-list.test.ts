import { afterEach, describe, expect, it } from 'vitest';
import type { ChatEntry } from './message-list.js';
import './message-list.js';

async function fixture(
  entries: ChatEntry[],
  me = 'ada',
): Promise<HTMLElementTagNameMap['message-list']> {
  const el = document.createElement('message-list');
  el.entries = entries;
  el.me = me;
  document.body.append(el);
  await el.updateComplete;
  return el;
}

afterEach(() => {
  document.body.replaceChildren();
});

const at = '2026-03-01T14:05:00.000Z';

describe('<message-list>', () => {
  it('renders <img src=x onerror=alert(1)> as text: no img element', async () => {
    const xss = '<img src=x onerror=alert(1)>';
    const el = await fixture([{ id: 1, kind: 'message', from: '<b>eve</b>', text: xss, at }]);
    const root = el.shadowRoot!;
    expect(root.querySelector('img')).toBeNull();
    expect(root.querySelector('b')).toBeNull();
    expect(root.querySelector('.bubble')!.textContent).toBe(xss);
    expect(root.querySelector('.from')!.textContent).toBe('<b>eve</b>');
  });

  it("shows others' messages with their nickname and time, and the user's own as You", async () => {
    const el = await fixture([
      { id: 1, kind: 'message', from: 'bob', text: 'hi ada', at },
      { id: 2, kind: 'message', from: 'ada', text: 'hi bob', at },
    ]);
    const [theirs, mine] = el.shadowRoot!.querySelectorAll('li');
    expect(theirs!.classList.contains('theirs')).toBe(true);
    expect(theirs!.querySelector('.from')!.textContent).toBe('bob');
    const time = theirs!.querySelector('time')!;
    expect(time.getAttribute('datetime')).toBe(at);
    expect(time.textContent).toMatch(/\d{1,2}.\d{2}/);
    expect(mine!.classList.contains('mine')).toBe(true);
    expect(mine!.querySelector('.from')!.textContent).toBe('You');
    expect(mine!.querySelector('.bubble')!.textContent).toBe('hi bob');
  });

  it('shows join and leave notices, naming the user You', async () => {
    const el = await fixture([
      { id: 1, kind: 'joined', nickname: 'ada' },
      { id: 2, kind: 'joined', nickname: 'bob' },
      { id: 3, kind: 'left', nickname: 'bob' },
    ]);
    const notices = [...el.shadowRoot!.querySelectorAll('li.notice')].map((li) => li.textContent);
    expect(notices).toEqual(['You joined', 'bob joined', 'bob left']);
  });

  it('says so when the room is empty, and is a list in a log named Messages', async () => {
    const el = await fixture([]);
    const log = el.shadowRoot!.querySelector('[role="log"]')!;
    expect(log.getAttribute('aria-label')).toBe('Messages');
    expect(log.getAttribute('aria-live')).toBe('polite');
    expect(log.textContent).toContain('No messages yet');
    el.entries = [{ id: 1, kind: 'message', from: 'bob', text: 'first', at }];
    await el.updateComplete;
    // The same live region, which screen readers read the new line from.
    expect(el.shadowRoot!.querySelector('[role="log"]')).toBe(log);
    expect(log.querySelectorAll('ol > li')).toHaveLength(1);
  });

  it('shows a history without reading it out, then is live again for what follows', async () => {
    const el = await fixture([]);
    const log = el.shadowRoot!.querySelector('[role="log"]')!;
    el.entries = [
      { id: 1, kind: 'message', from: 'bob', text: 'said before', at },
      { id: 2, kind: 'message', from: 'ada', text: 'also before', at },
    ];
    el.historyVersion = 1;
    await el.updateComplete;
    expect(log.getAttribute('aria-live')).toBe('off');
    await expect.poll(() => log.getAttribute('aria-live')).toBe('polite');
    el.entries = [...el.entries, { id: 3, kind: 'joined', nickname: 'cy' }];
    await el.updateComplete;
    expect(log.getAttribute('aria-live')).toBe('polite');
  });

  it('can take the keyboard focus, to scroll with the arrow keys', async () => {
    const el = await fixture([]);
    const log = el.shadowRoot!.querySelector<HTMLElement>('[role="log"]')!;
    expect(log.tabIndex).toBe(0);
  });

  it('keeps the newest message in view', async () => {
    const el = await fixture([]);
    el.style.height = '100px';
    el.entries = Array.from({ length: 40 }, (_, i) => ({
      id: i,
      kind: 'message' as const,
      from: 'bob',
      text: `line ${i}`,
      at,
    }));
    await el.updateComplete;
    const log = el.shadowRoot!.querySelector<HTMLElement>('[role="log"]')!;
    expect(log.scrollHeight).toBeGreaterThan(log.clientHeight);
    expect(log.scrollTop + log.clientHeight).toBeGreaterThanOrEqual(log.scrollHeight - 1);
  });
});
