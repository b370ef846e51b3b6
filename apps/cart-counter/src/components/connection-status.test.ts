import type { ConnectionState } from '@gale/client';
import { afterEach, describe, expect, it } from 'vitest';
import './connection-status.js';

afterEach(() => {
  document.body.replaceChildren();
});

describe('<connection-status>', () => {
  it.each([
    ['connecting', 'Connecting…'],
    ['open', 'Live'],
    ['reconnecting', 'Reconnecting…'],
    ['closed', 'Offline'],
  ] as const)('shows %s as "%s" in a status region', async (state: ConnectionState, label) => {
    const el = document.createElement('connection-status');
    el.state = state;
    document.body.append(el);
    await el.updateComplete;
    expect(el.shadowRoot!.querySelector('[role="status"]')!.textContent).toBe(label);
    expect(el.getAttribute('state')).toBe(state); // reflected, for the dot's colour
  });
});
