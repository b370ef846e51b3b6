import type { ConnectionState } from '@gale/client';
import { afterEach, describe, expect, it } from 'vitest';
import './connection-status.js';

afterEach(() => {
  document.body.replaceChildren();
});

describe('<connection-status>', () => {
  it.each([
    ['connecting', 'Connecting…'],
    ['open', 'Connected'],
    ['reconnecting', 'Reconnecting…'],
    ['closed', 'Disconnected'],
  ] as const)('labels %s as "%s" and reflects the state', async (state: ConnectionState, label) => {
    const el = document.createElement('connection-status');
    el.state = state;
    document.body.append(el);
    await el.updateComplete;
    expect(el.shadowRoot!.querySelector('[role="status"]')!.textContent).toBe(label);
    expect(el.getAttribute('state')).toBe(state);
  });
});
