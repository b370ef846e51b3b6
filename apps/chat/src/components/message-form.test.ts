import { afterEach, describe, expect, it } from 'vitest';
import type { MessageSubmitDetail } from './message-form.js';
import './message-form.js';

async function fixture(): Promise<HTMLElementTagNameMap['message-form']> {
  const el = document.createElement('message-form');
  document.body.append(el);
  await el.updateComplete;
  return el;
}

afterEach(() => {
  document.body.replaceChildren();
});

describe('<message-form>', () => {
  it('has a textbox labelled Message and a Send button', async () => {
    const el = await fixture();
    expect(el.shadowRoot!.querySelector('input')!.getAttribute('aria-label')).toBe('Message');
    expect(el.shadowRoot!.querySelector('button')!.textContent).toBe('Send');
  });

  it('fires message-submit with the text as typed and clears the box', async () => {
    const el = await fixture();
    const sent: string[] = [];
    el.addEventListener('message-submit', (e: CustomEvent<MessageSubmitDetail>) =>
      sent.push(e.detail.text),
    );
    const input = el.shadowRoot!.querySelector('input')!;
    input.value = ' <b>hi</b> ';
    el.shadowRoot!.querySelector('button')!.click();
    expect(sent).toEqual([' <b>hi</b> ']);
    expect(input.value).toBe('');
  });

  it('sends nothing for a blank box or while disabled', async () => {
    const el = await fixture();
    const sent: string[] = [];
    el.addEventListener('message-submit', (e) => sent.push(e.detail.text));
    el.shadowRoot!.querySelector('input')!.value = '   ';
    el.shadowRoot!.querySelector('button')!.click();
    el.disabled = true;
    await el.updateComplete;
    el.shadowRoot!.querySelector('input')!.value = 'kept';
    el.shadowRoot!.querySelector('form')!.requestSubmit();
    expect(sent).toEqual([]);
    expect(el.shadowRoot!.querySelector('input')!.value).toBe('kept');
  });

  it('shows the reason a message was refused in an alert, which takes no room while empty', async () => {
    const el = await fixture();
    const alert = el.shadowRoot!.querySelector<HTMLElement>('[role="alert"]')!;
    // Rendered all along (an alert that appears out of nothing may go unheard), but flat.
    expect(getComputedStyle(alert).display).not.toBe('none');
    expect(alert.offsetHeight).toBe(0);
    el.error = 'Message too long (max 2000 characters)';
    await el.updateComplete;
    expect(alert.textContent).toBe('Message too long (max 2000 characters)');
    expect(alert.offsetHeight).toBeGreaterThan(0);
  });

  it('counts characters near the limit and marks a message over it', async () => {
    const el = await fixture();
    el.maxLength = 10;
    const input = el.shadowRoot!.querySelector('input')!;
    input.value = 'short';
    input.dispatchEvent(new InputEvent('input'));
    await el.updateComplete;
    expect(el.shadowRoot!.querySelector('.count')).toBeNull();
    input.value = '😀'.repeat(11);
    input.dispatchEvent(new InputEvent('input'));
    await el.updateComplete;
    const count = el.shadowRoot!.querySelector('.count')!;
    expect(count.textContent!.replace(/\s+/g, ' ').trim()).toBe('11 / 10');
    expect(count.classList.contains('over')).toBe(true);
  });
});
