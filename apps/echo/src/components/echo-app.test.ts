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

function routeButtons(el: HTMLElementTagNameMap['echo-app']): HTMLButtonElement[] {
  return [...el.shadowRoot!.querySelectorAll<HTMLButtonElement>('[role="group"] button')];
}

describe('<echo-app>', () => {
  it('renders a banner with the status, then in main the routes, the message form and the log', async () => {
    const el = await fixture();
    const root = el.shadowRoot!;
    expect(root.querySelector('header h1')!.textContent).toBe('Echo');
    expect(root.querySelector('header connection-status')).not.toBeNull();
    const main = root.querySelector('main')!;
    expect([...main.querySelectorAll('h2')].map((h) => h.textContent)).toEqual([
      'Send a message',
      'Messages',
    ]);
    const group = main.querySelector('[role="group"]')!;
    expect(root.getElementById(group.getAttribute('aria-labelledby')!)!.textContent).toBe('Route');
    expect(
      routeButtons(el).map((button) => [
        button.querySelector('.path')!.textContent,
        button.getAttribute('aria-pressed'),
      ]),
    ).toEqual([
      ['/websocket', 'true'],
      ['/echo', 'false'],
    ]);
    expect(main.querySelector('message-form')).not.toBeNull();
    expect(main.querySelector('echo-log')).not.toBeNull();
    expect(root.querySelector('footer')).not.toBeNull();
  });

  it('offers binary only for /echo, and logs the switch', async () => {
    const el = await fixture();
    const root = el.shadowRoot!;
    const binary = root.querySelector<HTMLInputElement>('input[type="checkbox"]')!;
    expect(binary.disabled).toBe(true);
    routeButtons(el)[1]!.click();
    await el.updateComplete;
    expect(el.endpoint).toBe('/echo');
    expect(el.getAttribute('endpoint')).toBe('/echo');
    expect(routeButtons(el).map((button) => button.getAttribute('aria-pressed'))).toEqual([
      'false',
      'true',
    ]);
    expect(binary.disabled).toBe(false);
    // Choosing the route it is on changes nothing.
    routeButtons(el)[1]!.click();
    await el.updateComplete;
    const log = root.querySelector('echo-log')!;
    expect(log.entries.map((entry) => entry.text)).toEqual(['Switched to /echo']);
  });

  it('starts connecting once attached, and is not shown as connected while no server answers', async () => {
    const el = await fixture();
    const status = el.shadowRoot!.querySelector('connection-status')!;
    expect(['connecting', 'reconnecting']).toContain(status.state);
  });
});
