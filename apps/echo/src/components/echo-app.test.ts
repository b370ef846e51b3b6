import { afterEach, describe, expect, it } from 'vitest';
import './echo-app.js';

// The test page has no echo server behind it: the app shows that it is not connected, and its
// controls still work.
afterEach(() => {
  document.body.replaceChildren();
});

async function fixture(): Promise<HTMLElementTagNameMap['echo-app']> {
  const el = document.createElement('echo-app');
  document.body.append(el);
  await el.updateComplete;
  return el;
}

describe('<echo-app>', () => {
  it('renders the status, both endpoints, the message form and the log', async () => {
    const el = await fixture();
    const root = el.shadowRoot!;
    expect(root.querySelector('connection-status')).not.toBeNull();
    const endpoints = [...root.querySelectorAll<HTMLInputElement>('input[name="endpoint"]')];
    expect(endpoints.map((input) => [input.value, input.checked])).toEqual([
      ['/websocket', true],
      ['/echo', false],
    ]);
    expect(root.querySelector('message-form')).not.toBeNull();
    expect(root.querySelector('echo-log')).not.toBeNull();
  });

  it('offers binary only for /echo, and logs the switch', async () => {
    const el = await fixture();
    const root = el.shadowRoot!;
    const binary = root.querySelector<HTMLInputElement>('input[type="checkbox"]')!;
    expect(binary.disabled).toBe(true);
    root.querySelector<HTMLInputElement>('input[value="/echo"]')!.click();
    await el.updateComplete;
    expect(el.endpoint).toBe('/echo');
    expect(el.getAttribute('endpoint')).toBe('/echo');
    expect(binary.disabled).toBe(false);
    const log = root.querySelector('echo-log')!;
    expect(log.entries.map((entry) => entry.text)).toEqual(['switched to /echo']);
  });

  it('starts connecting once attached, and is not shown as connected while no server answers', async () => {
    const el = await fixture();
    const status = el.shadowRoot!.querySelector('connection-status')!;
    expect(['connecting', 'reconnecting']).toContain(status.state);
  });
});
