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
    const input = el.shadowRoot!.querySelector('input')!;
    expect(input.getAttribute('aria-label')).toBe('Message');
    expect(el.shadowRoot!.querySelector('button')!.textContent).toBe('Send');
  });

  it('fires message-submit with the text and clears the box', async () => {
    const el = await fixture();
    const sent: string[] = [];
    el.addEventListener('message-submit', (e: CustomEvent<MessageSubmitDetail>) =>
      sent.push(e.detail.text),
    );
    const input = el.shadowRoot!.querySelector('input')!;
    input.value = 'hi there';
    el.shadowRoot!.querySelector('button')!.click();
    expect(sent).toEqual(['hi there']);
    expect(input.value).toBe('');
  });

  it('sends nothing for an empty box or while disabled', async () => {
    const el = await fixture();
    const sent: string[] = [];
    el.addEventListener('message-submit', (e) => sent.push(e.detail.text));
    el.shadowRoot!.querySelector('button')!.click();
    el.disabled = true;
    await el.updateComplete;
    el.shadowRoot!.querySelector('input')!.value = 'kept';
    el.shadowRoot!.querySelector('form')!.requestSubmit();
    expect(sent).toEqual([]);
    expect(el.shadowRoot!.querySelector('input')!.value).toBe('kept');
  });
});
