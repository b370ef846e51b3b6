import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CartMessage, StockMessage } from '../../server/messages.js';
import { type BurtsBooks, REFUSED_AS_FORGED } from './burts-books.js';
import './burts-books.js';

// The page with the server faked: `fetch` answers from a queue of replies, and a fake WebSocket
// lets the test push what /cart/status would. The `_xsrf` cookie is a real cookie of the test
// page, which a reply may set (as the server's Set-Cookie would) or the test clear.

class FakeWebSocket {
  static readonly instances: FakeWebSocket[] = [];
  /** Whether the fake server selects gale.v1 when the page offers it (as the shop does). */
  static speaksGale = false;
  readonly url: string;
  /** The subprotocols the page offered. */
  readonly offered: readonly string[];
  readonly sent: unknown[] = [];
  readyState = 0;
  protocol = '';
  bufferedAmount = 0;
  binaryType = 'blob';
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;

  constructor(url: string, protocols: string | readonly string[] = []) {
    this.url = url;
    this.offered = typeof protocols === 'string' ? [protocols] : protocols;
    if (FakeWebSocket.speaksGale && this.offered.includes('gale.v1')) this.protocol = 'gale.v1';
    FakeWebSocket.instances.push(this);
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.(new Event('open'));
    });
  }

  push(message: StockMessage | CartMessage): void {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(message) }));
  }

  /** A message as it is on the wire (with gale.v1: its header line, then the payload). */
  pushRaw(data: string): void {
    this.onmessage?.(new MessageEvent('message', { data }));
  }

  send(data: unknown): void {
    this.sent.push(data);
  }

  close(code = 1000, reason = ''): void {
    this.readyState = 3;
    this.onclose?.(new CloseEvent('close', { code, reason, wasClean: true }));
  }

  /** The network dropped the connection: no Close frame. */
  drop(): void {
    this.readyState = 3;
    this.onclose?.(new CloseEvent('close', { code: 1006, reason: '', wasClean: false }));
  }
}

// gale.v1 as the shop speaks it (docs/resume-protocol.md §3): a header line, then the payload.
const gale = {
  direct: (message: object): string => `\n${JSON.stringify(message)}`,
  topic: (topic: string, epoch: string, offset: number, message: object): string =>
    `${JSON.stringify([topic, epoch, offset])}\n${JSON.stringify(message)}`,
  position: (topic: string, epoch: string, offset: number): string =>
    `${JSON.stringify({ type: 'position', topic, epoch, offset })}\n`,
  gap: (topic: string, from: [string, number], to: [string, number]): string =>
    `${JSON.stringify({
      type: 'gap',
      topic,
      from: { epoch: from[0], offset: from[1] },
      to: { epoch: to[0], offset: to[1] },
    })}\n`,
};
const STOCK = 'cart/stock';
const SESSION = 'cart/session/4f9c1a52-0d4e-4e7b-9a43-2c1e5b7d8a60';

interface Call {
  readonly url: string;
  readonly method: string;
  readonly body: unknown;
  /** The X-XSRFToken header, if sent. */
  readonly xsrf?: string | undefined;
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
  /** A new `_xsrf` cookie this reply sets. */
  readonly setXsrf?: string;
}

const TOKEN = '2|0a0b0c0d|00112233445566778899aabbccddeeff|1700000000';
const NEW_TOKEN = '2|01020304|ffeeddccbbaa99887766554433221100|1700000001';

let calls: Call[];
let replies: Reply[];

function reply(status: number, body: unknown, setXsrf?: string): void {
  replies.push({ status, body, ...(setXsrf === undefined ? {} : { setXsrf }) });
}

async function setXsrfCookie(value: string | null): Promise<void> {
  if (value === null) await cookieStore.delete('_xsrf');
  else await cookieStore.set({ name: '_xsrf', value, path: '/', sameSite: 'lax' });
}

function cart(overrides: Partial<CartMessage> = {}): CartMessage {
  return { inventoryCount: 10, version: 0, inCart: false, expiresAt: null, ...overrides };
}

beforeEach(async () => {
  calls = [];
  replies = [];
  FakeWebSocket.instances.length = 0;
  vi.stubGlobal('WebSocket', FakeWebSocket);
  await setXsrfCookie(TOKEN); // as the load's GET /cart left it
  vi.stubGlobal('fetch', async (url: string, init: RequestInit = {}) => {
    calls.push({
      url,
      method: init.method ?? 'GET',
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      xsrf: new Headers(init.headers).get('X-XSRFToken') ?? undefined,
    });
    const next = replies.shift();
    if (next === undefined) throw new TypeError('Failed to fetch');
    if (next.setXsrf !== undefined) await setXsrfCookie(next.setXsrf);
    return new Response(JSON.stringify(next.body), {
      status: next.status,
      headers: { 'Content-Type': 'application/json' },
    });
  });
});

afterEach(async () => {
  FakeWebSocket.speaksGale = false;
  document.body.replaceChildren();
  vi.unstubAllGlobals();
  await setXsrfCookie(null);
});

async function page(): Promise<BurtsBooks> {
  const el = document.createElement('burts-books');
  document.body.append(el);
  await vi.waitFor(() => expect(FakeWebSocket.instances).toHaveLength(1));
  return el;
}

function controls(el: BurtsBooks): ShadowRoot {
  return el.shadowRoot!.querySelector('cart-controls')!.shadowRoot!;
}

function shown(el: BurtsBooks): string {
  return controls(el).textContent!.replace(/\s+/g, ' ').trim();
}

/** The text of the alert region (always on the page; empty without an error). */
function alert(el: BurtsBooks): string {
  return el.shadowRoot!.querySelector('[role="alert"]')!.textContent!.trim();
}

/** What the status region says to screen readers now. */
function announced(el: BurtsBooks): string {
  return el.shadowRoot!.querySelector('main [role="status"]')!.textContent!.trim();
}

function socket(): FakeWebSocket {
  return FakeWebSocket.instances[0]!;
}

describe('<burts-books>', () => {
  it('loads the cart first, then follows /cart/status', async () => {
    reply(200, cart({ inventoryCount: 8, version: 2 }));
    const el = await page();
    expect(calls).toEqual([{ url: '/cart', method: 'GET', body: undefined }]);
    expect(socket().url).toBe(`ws://${location.host}/cart/status`);
    expect(el.shadowRoot!.querySelector('h1')!.textContent).toContain("Burt's Books");
    await vi.waitFor(() => expect(shown(el)).toContain('Only 8 left in stock! Order now!'));
    await vi.waitFor(() =>
      expect(el.shadowRoot!.querySelector('connection-status')!.state).toBe('open'),
    );
  });

  it('shows every pushed count, and ignores one older than what it has', async () => {
    reply(200, cart({ inventoryCount: 8, version: 2 }));
    const el = await page();
    socket().push({ inventoryCount: 7, version: 3 });
    await vi.waitFor(() => expect(shown(el)).toContain('Only 7 left'));
    socket().push(cart({ inventoryCount: 8, version: 2 })); // the connect snapshot, overtaken
    await el.updateComplete;
    expect(shown(el)).toContain('Only 7 left');
  });

  it('Add to Cart posts {"action":"add"} as JSON, with the _xsrf token, and shows the copy in the cart', async () => {
    reply(200, cart());
    const el = await page();
    await vi.waitFor(() => expect(shown(el)).toContain('Only 10 left'));
    reply(
      200,
      cart({ inventoryCount: 9, version: 1, inCart: true, expiresAt: '2030-01-01T00:00:00Z' }),
    );
    controls(el).querySelector('button')!.click();
    await vi.waitFor(() => expect(shown(el)).toContain('One copy is in your cart.'));
    expect(calls[1]).toEqual({
      url: '/cart',
      method: 'POST',
      body: { action: 'add' },
      xsrf: TOKEN,
    });
    reply(200, cart({ inventoryCount: 10, version: 2 }));
    controls(el).querySelector('button')!.click();
    await vi.waitFor(() => expect(shown(el)).toContain('Only 10 left'));
    expect(calls[2]).toEqual({
      url: '/cart',
      method: 'POST',
      body: { action: 'remove' },
      xsrf: TOKEN,
    });
  });

  it("shows the server's reason when it refuses (409 sold out)", async () => {
    reply(200, cart({ inventoryCount: 1, version: 4 }));
    const el = await page();
    await vi.waitFor(() => expect(shown(el)).toContain('Only 1 left'));
    reply(409, { status: 409, message: "Sold out: every copy is in someone's cart" });
    controls(el).querySelector('button')!.click();
    await vi.waitFor(() => expect(alert(el)).toBe("Sold out: every copy is in someone's cart"));
    socket().push({ inventoryCount: 0, version: 5 });
    await vi.waitFor(() => expect(shown(el)).toContain('Sold out'));
    expect(controls(el).querySelector('button')!.getAttribute('aria-disabled')).toBe('true');
  });

  it('without the _xsrf cookie (cleared since the load), gets one from GET /cart before posting', async () => {
    reply(200, cart());
    const el = await page();
    await vi.waitFor(() => expect(shown(el)).toContain('Only 10 left'));
    await setXsrfCookie(null);
    reply(200, cart({ inventoryCount: 10, version: 0 }), NEW_TOKEN);
    reply(
      200,
      cart({ inventoryCount: 9, version: 1, inCart: true, expiresAt: '2030-01-01T00:00:00Z' }),
    );
    controls(el).querySelector('button')!.click();
    await vi.waitFor(() => expect(shown(el)).toContain('One copy is in your cart.'));
    expect(calls.slice(1)).toEqual([
      { url: '/cart', method: 'GET', body: undefined },
      { url: '/cart', method: 'POST', body: { action: 'add' }, xsrf: NEW_TOKEN },
    ]);
    expect(alert(el)).toBe('');
  });

  it('after a 403, gets a fresh cookie and tries once more', async () => {
    reply(200, cart());
    const el = await page();
    await vi.waitFor(() => expect(shown(el)).toContain('Only 10 left'));
    reply(403, { status: 403, message: 'XSRF cookie does not match POST argument' });
    reply(200, cart(), NEW_TOKEN);
    reply(
      200,
      cart({ inventoryCount: 9, version: 1, inCart: true, expiresAt: '2030-01-01T00:00:00Z' }),
    );
    controls(el).querySelector('button')!.click();
    await vi.waitFor(() => expect(shown(el)).toContain('One copy is in your cart.'));
    expect(calls.slice(1).map((call) => [call.method, call.xsrf])).toEqual([
      ['POST', TOKEN],
      ['GET', undefined],
      ['POST', NEW_TOKEN],
    ]);
    expect(alert(el)).toBe('');
  });

  it('says plainly that it was refused when a second 403 follows, and changes nothing', async () => {
    reply(200, cart());
    const el = await page();
    await vi.waitFor(() => expect(shown(el)).toContain('Only 10 left'));
    const refusal = { status: 403, message: 'Cross-origin POST refused: a request from …' };
    reply(403, refusal);
    reply(200, cart());
    reply(403, refusal);
    controls(el).querySelector('button')!.click();
    await vi.waitFor(() => expect(alert(el)).toBe(REFUSED_AS_FORGED));
    expect(calls.map((call) => call.method)).toEqual(['GET', 'POST', 'GET', 'POST']);
    expect(shown(el)).toContain('Only 10 left');
    // The button works again.
    expect(controls(el).querySelector('button')!.hasAttribute('aria-disabled')).toBe(false);
  });

  it('offers gale.v1, and after a cut takes what the shop resends: the latest count, no snapshot', async () => {
    FakeWebSocket.speaksGale = true;
    reply(200, cart({ inventoryCount: 8, version: 2 }));
    const el = await page();
    expect(socket().offered).toEqual(['gale.v1']);
    socket().pushRaw(gale.position(STOCK, 'E1', 2));
    socket().pushRaw(gale.position(SESSION, 'S1', 0));
    socket().pushRaw(gale.direct(cart({ inventoryCount: 8, version: 2 })));
    socket().pushRaw(gale.topic(STOCK, 'E1', 3, { inventoryCount: 7, version: 3 }));
    await vi.waitFor(() => expect(shown(el)).toContain('Only 7 left'));
    socket().drop();
    await vi.waitFor(() => expect(FakeWebSocket.instances).toHaveLength(2), { timeout: 2000 });
    const next = FakeWebSocket.instances[1]!;
    // The new socket resumes where the last one stopped: its first message names the positions.
    await vi.waitFor(() => expect(next.sent).toHaveLength(1));
    expect(JSON.parse(next.sent[0] as string)).toEqual({
      resume: [
        [STOCK, 'E1', 3],
        [SESSION, 'S1', 0],
      ],
    });
    // Three changes were missed: the shop sends the latest alone.
    next.pushRaw(gale.position(STOCK, 'E1', 5));
    next.pushRaw(gale.topic(STOCK, 'E1', 6, { inventoryCount: 4, version: 6 }));
    next.pushRaw(gale.position(SESSION, 'S1', 0));
    await vi.waitFor(() => expect(shown(el)).toContain('Only 4 left'));
    // Versions go on: an older count (a late answer, say) is still ignored.
    next.pushRaw(gale.direct(cart({ inventoryCount: 7, version: 3 })));
    await el.updateComplete;
    expect(shown(el)).toContain('Only 4 left');
  });

  it('after a gap (the shop restarted: versions from 0 again), the snapshot replaces what it shows', async () => {
    FakeWebSocket.speaksGale = true;
    const expiresAt = '2030-01-01T00:00:00Z';
    reply(200, cart({ inventoryCount: 6, version: 4, inCart: true, expiresAt }));
    const el = await page();
    socket().pushRaw(gale.position(STOCK, 'E1', 4));
    socket().pushRaw(gale.position(SESSION, 'S1', 1));
    socket().pushRaw(gale.direct(cart({ inventoryCount: 6, version: 4, inCart: true, expiresAt })));
    await vi.waitFor(() => expect(shown(el)).toContain('One copy is in your cart.'));
    socket().drop();
    await vi.waitFor(() => expect(FakeWebSocket.instances).toHaveLength(2), { timeout: 2000 });
    const next = FakeWebSocket.instances[1]!;
    await vi.waitFor(() => expect(next.sent).toHaveLength(1));
    // The restarted shop kept nothing: a gap on each topic (a new epoch), the latest count it
    // has, then its snapshot, whose versions are below what the page had.
    next.pushRaw(gale.gap(STOCK, ['E1', 4], ['E2', 0]));
    next.pushRaw(gale.topic(STOCK, 'E2', 1, { inventoryCount: 9, version: 1 }));
    next.pushRaw(gale.gap(SESSION, ['S1', 1], ['S2', 0]));
    next.pushRaw(gale.direct(cart({ inventoryCount: 9, version: 1 })));
    await vi.waitFor(() => expect(shown(el)).toContain('Only 9 left'));
    expect(shown(el)).not.toContain('in your cart');
    expect(controls(el).querySelector('button')!.textContent).toBe('Add to Cart');
    // From there, the new shop's versions count: the next change is shown.
    next.pushRaw(gale.topic(STOCK, 'E2', 2, { inventoryCount: 8, version: 2 }));
    await vi.waitFor(() => expect(shown(el)).toContain('Only 8 left'));
  });

  it('after a reload, shows the copy still in the cart', async () => {
    reply(
      200,
      cart({ inventoryCount: 9, version: 1, inCart: true, expiresAt: '2030-01-01T00:00:00Z' }),
    );
    const el = await page();
    await vi.waitFor(() => expect(shown(el)).toContain('One copy is in your cart.'));
    expect(controls(el).querySelector('button')!.textContent).toBe('Remove from Cart');
  });

  it('says so when the reservation runs out', async () => {
    reply(
      200,
      cart({ inventoryCount: 9, version: 1, inCart: true, expiresAt: '2030-01-01T00:00:00Z' }),
    );
    const el = await page();
    await vi.waitFor(() => expect(shown(el)).toContain('One copy is in your cart.'));
    socket().push({ inventoryCount: 10, version: 2 });
    socket().push(cart({ inventoryCount: 10, version: 2, expired: true }));
    await vi.waitFor(() => expect(shown(el)).toContain('Only 10 left'));
    expect(el.shadowRoot!.querySelector('.notice.info')!.textContent).toMatch(/ran out/);
  });

  it("announces another shopper's change of the stock through its status region, and nothing at load", async () => {
    reply(200, cart({ inventoryCount: 2, version: 1 }));
    const el = await page();
    await vi.waitFor(() => expect(shown(el)).toContain('Only 2 left'));
    const region = el.shadowRoot!.querySelector('main [role="status"]')!;
    expect(region.getAttribute('aria-live')).toBe('polite');
    expect(region.getAttribute('aria-atomic')).toBe('true');
    expect(announced(el)).toBe('');
    socket().push({ inventoryCount: 1, version: 2 });
    await vi.waitFor(() => expect(announced(el)).toBe('Only 1 left in stock.'));
    socket().push({ inventoryCount: 0, version: 3 });
    await vi.waitFor(() =>
      expect(announced(el)).toBe("Sold out: every copy is in someone's cart."),
    );
    expect(el.shadowRoot!.querySelector('main [role="status"]')).toBe(region);
  });

  it('announces the result of Add to Cart once, when the push to everyone came first', async () => {
    reply(200, cart({ inventoryCount: 3, version: 1 }));
    const el = await page();
    await vi.waitFor(() => expect(shown(el)).toContain('Only 3 left'));
    const said: string[] = [];
    new MutationObserver(() => said.push(announced(el))).observe(
      el.shadowRoot!.querySelector('main [role="status"]')!,
      { childList: true, subtree: true, characterData: true },
    );
    let answer: (() => void) | undefined;
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    vi.stubGlobal('fetch', async () => {
      socket().push({ inventoryCount: 2, version: 2 }); // the push overtakes the answer
      await answered;
      return Response.json(
        cart({ inventoryCount: 2, version: 2, inCart: true, expiresAt: '2030-01-01T00:00:00Z' }),
      );
    });
    controls(el).querySelector('button')!.click();
    await vi.waitFor(() =>
      expect(el.shadowRoot!.querySelector('cart-controls')!.pending).toBe('add'),
    );
    await el.updateComplete;
    answer!();
    await vi.waitFor(() => expect(shown(el)).toContain('One copy is in your cart.'));
    await el.updateComplete;
    expect(said.filter((text) => text !== '')).toEqual([
      'Added to your cart. 2 other copies left.',
    ]);
  });

  it('an error goes to the alert region (there from the start), not to the status region', async () => {
    reply(200, cart({ inventoryCount: 3, version: 1 }));
    const el = await page();
    await vi.waitFor(() => expect(shown(el)).toContain('Only 3 left'));
    const region = el.shadowRoot!.querySelector('[role="alert"]')!;
    expect(alert(el)).toBe('');
    reply(503, { status: 503, message: "The shop can't reach its stock right now" });
    controls(el).querySelector('button')!.click();
    await vi.waitFor(() => expect(alert(el)).toBe("The shop can't reach its stock right now"));
    expect(el.shadowRoot!.querySelector('[role="alert"]')).toBe(region);
    expect(announced(el)).toBe('');
  });

  it('retries loading the cart while the shop is unreachable', async () => {
    // No reply queued: the first GET fails like a network error.
    const el = document.createElement('burts-books');
    document.body.append(el);
    await vi.waitFor(() => expect(alert(el)).toMatch(/Can't reach/));
    expect(FakeWebSocket.instances).toHaveLength(0);
    reply(200, cart({ inventoryCount: 5, version: 7 }));
    await vi.waitFor(() => expect(FakeWebSocket.instances).toHaveLength(1), { timeout: 3000 });
    await vi.waitFor(() => expect(shown(el)).toContain('Only 5 left'));
    expect(alert(el)).toBe('');
  });
});
