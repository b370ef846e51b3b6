import { afterEach, describe, expect, it } from 'vitest';
import type { LoginSubmitDetail } from './login-form.js';
import './login-form.js';

async function fixture(): Promise<HTMLElementTagNameMap['login-form']> {
  const el = document.createElement('login-form');
  document.body.append(el);
  await el.updateComplete;
  return el;
}

afterEach(() => {
  document.body.replaceChildren();
});

describe('<login-form>', () => {
  it('has a textbox labelled Nickname (a visible label) and a Join button', async () => {
    const el = await fixture();
    const input = el.shadowRoot!.querySelector('input')!;
    expect([...input.labels!].map((label) => label.textContent)).toEqual(['Nickname']);
    expect(el.shadowRoot!.querySelector('button')!.textContent).toBe('Join');
  });

  it('fires login-submit with the nickname as typed and keeps it in the box', async () => {
    const el = await fixture();
    const submitted: string[] = [];
    el.addEventListener('login-submit', (e: CustomEvent<LoginSubmitDetail>) =>
      submitted.push(e.detail.nickname),
    );
    const input = el.shadowRoot!.querySelector('input')!;
    input.value = ' ada ';
    el.shadowRoot!.querySelector('button')!.click();
    expect(submitted).toEqual([' ada ']);
    expect(input.value).toBe(' ada ');
  });

  it('shows a refusal as an alert tied to the box, cleared when the user types again', async () => {
    const el = await fixture();
    el.error = 'Nickname already in use, please choose another';
    await el.updateComplete;
    const input = el.shadowRoot!.querySelector('input')!;
    const alert = el.shadowRoot!.querySelector('[role="alert"]')!;
    expect(alert.textContent).toBe('Nickname already in use, please choose another');
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(input.getAttribute('aria-describedby')).toBe(alert.id);
    input.value = 'ada2';
    input.dispatchEvent(new InputEvent('input'));
    await el.updateComplete;
    expect(alert.textContent).toBe('');
    expect(input.getAttribute('aria-invalid')).toBe('false');
  });

  it('does not submit twice while busy', async () => {
    const el = await fixture();
    let count = 0;
    el.addEventListener('login-submit', () => count++);
    el.busy = true;
    await el.updateComplete;
    expect(el.shadowRoot!.querySelector('button')!.disabled).toBe(true);
    el.shadowRoot!.querySelector('form')!.requestSubmit();
    expect(count).toBe(0);
  });

  it('shows a notice as text', async () => {
    const el = await fixture();
    el.notice = '<i>You left the room.</i>';
    await el.updateComplete;
    expect(el.shadowRoot!.querySelector('i')).toBeNull();
    expect(el.shadowRoot!.querySelector('[role="status"]')!.textContent).toBe(
      '<i>You left the room.</i>',
    );
  });
});
