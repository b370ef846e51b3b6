import { afterEach, describe, expect, it } from 'vitest';
import { EMPTY_MESSAGE_ERROR, type MessageSubmitDetail } from './message-form.js';
import './message-form.js';

async function fixture(): Promise<HTMLElementTagNameMap['message-form']> {
  const el = document.createElement('message-form');
  document.body.append(el);
  await el.updateComplete;
  return el;
}

function parts(el: HTMLElementTagNameMap['message-form']) {
  const root = el.shadowRoot!;
  return {
    input: root.querySelector('input')!,
    button: root.querySelector('button')!,
    alert: root.querySelector('[role="alert"]')!,
  };
}

afterEach(() => {
  document.body.replaceChildren();
});

describe('<message-form>', () => {
  it('has a textbox with a visible "Message" label and a placeholder, and a Send button', async () => {
    const el = await fixture();
    const { input, button } = parts(el);
    const label = input.labels![0]!;
    expect(label.textContent).toBe('Message');
    expect(label.hidden).toBe(false);
    expect(input.placeholder).toBe('Type a message…');
    expect(button.textContent).toBe('Send');
  });

  it('fires message-submit with the text, clears the box and keeps the focus in it', async () => {
    const el = await fixture();
    const sent: string[] = [];
    el.addEventListener('message-submit', (e: CustomEvent<MessageSubmitDetail>) =>
      sent.push(e.detail.text),
    );
    const { input, button, alert } = parts(el);
    input.value = 'hi there';
    button.focus();
    button.click();
    expect(sent).toEqual(['hi there']);
    expect(input.value).toBe('');
    expect(el.shadowRoot!.activeElement).toBe(input);
    await el.updateComplete;
    expect(alert.textContent).toBe('');
  });

  it('says so in its alert for an empty box, and sends nothing', async () => {
    const el = await fixture();
    const sent: string[] = [];
    el.addEventListener('message-submit', (e) => sent.push(e.detail.text));
    const { input, button, alert } = parts(el);
    button.click();
    await el.updateComplete;
    expect(sent).toEqual([]);
    expect(alert.textContent).toBe(EMPTY_MESSAGE_ERROR);
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(input.getAttribute('aria-describedby')).toBe(alert.id);
    expect(el.shadowRoot!.activeElement).toBe(input);
    // Typing starts over.
    input.value = 'x';
    input.dispatchEvent(new InputEvent('input'));
    await el.updateComplete;
    expect(alert.textContent).toBe('');
  });

  it('clears the box and the error on Escape', async () => {
    const el = await fixture();
    const { input, alert } = parts(el);
    el.error = 'Not sent';
    input.value = 'draft';
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', cancelable: true }));
    await el.updateComplete;
    expect(input.value).toBe('');
    expect(alert.textContent).toBe('');
  });

  it('refuse() puts the text back with the reason, and focuses the box', async () => {
    const el = await fixture();
    const { input, alert } = parts(el);
    el.refuse('lost?', 'Not sent (closed).');
    await el.updateComplete;
    expect(input.value).toBe('lost?');
    expect(alert.textContent).toBe('Not sent (closed).');
    expect(el.shadowRoot!.activeElement).toBe(input);
    // What was typed since is kept.
    input.value = 'newer';
    el.refuse('older', 'Not sent (closed).');
    expect(input.value).toBe('newer');
  });

  it('sends nothing while disabled, and keeps what was typed', async () => {
    const el = await fixture();
    const sent: string[] = [];
    el.addEventListener('message-submit', (e) => sent.push(e.detail.text));
    el.disabled = true;
    await el.updateComplete;
    parts(el).input.value = 'kept';
    el.shadowRoot!.querySelector('form')!.requestSubmit();
    expect(sent).toEqual([]);
    expect(parts(el).input.value).toBe('kept');
  });
});
