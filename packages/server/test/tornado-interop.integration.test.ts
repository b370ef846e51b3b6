import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { assertTornado, PYTHON } from '@gale/test-utils';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Application,
  type ApplicationOptions,
  type Route,
  silentLogger,
  WebSocketHandler,
} from '../src/index.js';
import { isBun, serve as listen } from './serve-runtime.js';

const onNode = it.skipIf(isBun);
const onBun = it.runIf(isBun);

// Tornado's own client (tornado.websocket.websocket_connect, driven by @gale/test-utils's
// peers/tornado_client.py) against gale handlers equivalent to the echo app's routes.

const DRIVER = fileURLToPath(import.meta.resolve('@gale/test-utils/peers/tornado_client.py'));
const MiB = 1024 * 1024;

// Seconds the driver waits for each step (connect, each reply, the closing handshake). Generous:
// a failure is reported as ok: false long before the test timeout.
const STEP_TIMEOUT = 30;

beforeAll(() => {
  assertTornado(); // missing Tornado fails this file, never skips it
});

/** A message of the driver's script: text or base64 binary, optionally repeated. */
type ScriptMessage = ({ text: string } | { binary: string }) & {
  repeat?: number;
  reply?: boolean;
};

interface Script {
  url: string;
  headers?: Record<string, string>;
  subprotocols?: string[];
  compression?: boolean;
  digest?: boolean;
  messages?: ScriptMessage[];
  close?: { code?: number; reason?: string };
}

type Reply =
  | { text: string }
  | { binary: string }
  | { type: 'text' | 'binary'; length: number; sha256: string };

/** The one JSON line tornado_client.py prints. */
interface TornadoResult {
  ok: boolean;
  status: number | null;
  error?: string;
  selected_subprotocol?: string | null;
  extensions?: string | null;
  replies?: Reply[];
  unexpected_replies?: Reply[];
  closed_by_server?: boolean;
  close_code?: number | null;
  close_reason?: string | null;
}

/** Runs one Tornado client session; the script goes through stdin (argv is limited to 128 KiB). */
function runTornado(script: Script): Promise<TornadoResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [DRIVER, '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || line === '') {
        reject(new Error(`tornado_client.py exited with ${code}: ${stderr.trim()}`));
        return;
      }
      resolve(JSON.parse(line) as TornadoResult);
    });
    child.stdin.end(JSON.stringify({ timeout: STEP_TIMEOUT, ...script }));
  });
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** What the driver reports for a reply when the script has `digest: true`. */
function digestOf(message: string | Uint8Array): Reply {
  const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  return {
    type: typeof message === 'string' ? 'text' : 'binary',
    length: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

// What gale's handlers saw when their connection closed, in order; reset by every test.
let serverCloses: Array<{ code: number | null; reason: string | null }> = [];
let serverCloseWaiters: Array<() => void> = [];

/** Resolves once `count` server-side onClose calls happened (they may follow Tornado's exit). */
function serverClosed(count = 1): Promise<typeof serverCloses> {
  return new Promise((resolve) => {
    const check = () => {
      if (serverCloses.length >= count) resolve(serverCloses);
      else serverCloseWaiters.push(check);
    };
    check();
  });
}

class RecordingHandler extends WebSocketHandler {
  override onClose(): void {
    serverCloses.push({ code: this.closeCode, reason: this.closeReason });
    for (const waiter of serverCloseWaiters.splice(0)) waiter();
  }
}

const SUBPROTOCOLS = ['chat', 'superchat'];

/** WS /echo, as the echo app's: exact echo, permessage-deflate accepted, chat/superchat. */
class ExactEcho extends RecordingHandler {
  override getCompressionOptions(): object {
    return {};
  }

  override selectSubprotocol(offered: readonly string[]): string | null {
    return offered.find((subprotocol) => SUBPROTOCOLS.includes(subprotocol)) ?? null;
  }

  override onMessage(message: string | Uint8Array): void {
    void this.writeMessage(message, { binary: typeof message !== 'string' });
  }
}

/** WS /websocket, as the echo app's: the Tornado documentation example. */
class YouSaid extends RecordingHandler {
  override onMessage(message: string | Uint8Array): Promise<void> {
    const text = typeof message === 'string' ? message : Buffer.from(message).toString();
    return this.writeMessage(`You said: ${text}`);
  }
}

/** Closes with 4001 "bye" when the first message arrives, without replying. */
class ClosesAfterFirstMessage extends RecordingHandler {
  override onMessage(): void {
    this.close(4001, 'bye');
  }
}

/**
 * A route written for gale.v1 clients, which plain ones share: subscribes to 'feed' and greets
 * with a direct message on open; 'publish <text>' publishes the text to 'feed' (a binary message,
 * its bytes), 'say <text>' answers the text directly, anything else is not answered. Selects
 * `chat` when offered.
 */
class Feed extends RecordingHandler {
  override selectSubprotocol(offered: readonly string[]): string | null {
    return offered.includes('chat') ? 'chat' : null;
  }

  override async open(): Promise<void> {
    await this.subscribe('feed');
    await this.writeMessage('welcome');
  }

  override async onMessage(message: string | Uint8Array): Promise<void> {
    if (typeof message !== 'string') await this.application.publish('feed', message);
    else if (message.startsWith('publish '))
      await this.application.publish('feed', message.slice(8));
    else if (message.startsWith('say ')) await this.writeMessage(message.slice(4));
  }
}

const ROUTES: Route[] = [
  ['/echo', ExactEcho],
  ['/websocket', YouSaid],
  ['/bye', ClosesAfterFirstMessage],
  ['/feed', Feed],
];

const apps: Application[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close(500)));
  serverCloses = [];
  serverCloseWaiters = [];
});

async function serve(options: ApplicationOptions = {}) {
  const app = new Application(ROUTES, {
    logger: silentLogger,
    websocketMaxMessageSize: 16 * MiB,
    ...options,
  });
  apps.push(app);
  const { port, ws } = await listen(app);
  return { port, url: ws };
}

describe('messages from a Tornado client', () => {
  it('come back from /echo as the exact text Tornado sent', async () => {
    const { url } = await serve();
    const result = await runTornado({
      url: url('/echo'),
      messages: [{ text: 'hello' }, { text: '' }, { text: 'line one\nline two\ttabbed' }],
    });
    expect(result).toMatchObject({ ok: true, status: 101, closed_by_server: false });
    expect(result.replies).toEqual([
      { text: 'hello' },
      { text: '' },
      { text: 'line one\nline two\ttabbed' },
    ]);
    expect(result.unexpected_replies).toBeUndefined();
  });

  it('come back from /echo as the exact bytes Tornado sent, binary stays binary', async () => {
    const { url } = await serve();
    const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
    const messages = [everyByte, new Uint8Array(0), Uint8Array.of(0xff, 0xfe, 0x00, 0x80)];
    const result = await runTornado({
      url: url('/echo'),
      messages: messages.map((bytes) => ({ binary: base64(bytes) })),
    });
    expect(result.ok).toBe(true);
    expect(result.replies).toEqual(messages.map((bytes) => ({ binary: base64(bytes) })));
  });

  it('keep every Unicode character, including astral ones, through /echo', async () => {
    const { url } = await serve();
    const texts = [
      'héllo ☃ 日本語 עברית',
      '😀 𝄞 𐍈 🏳️‍🌈 👩🏽‍💻',
      'e\u0301 \u0000 \u200b \ufeff \uffff',
      '\u{10ffff}'.repeat(1000),
    ];
    const result = await runTornado({
      url: url('/echo'),
      messages: texts.map((text) => ({ text })),
    });
    expect(result.ok).toBe(true);
    expect(result.replies).toEqual(texts.map((text) => ({ text })));
  });

  it('of 4 MiB, text and binary, come back from /echo intact', async () => {
    const { url } = await serve();
    const text = 'gale 🌬 '; // 10 UTF-8 bytes: an astral character in every repetition
    const textRepeat = Math.ceil((4 * MiB) / Buffer.byteLength(text));
    const block = Uint8Array.from({ length: 256 }, (_, i) => (i * 7) % 256);
    const binaryRepeat = (4 * MiB) / block.length;
    const result = await runTornado({
      url: url('/echo'),
      digest: true,
      messages: [
        { text, repeat: textRepeat },
        { binary: base64(block), repeat: binaryRepeat },
      ],
    });
    expect(result).toMatchObject({ ok: true, closed_by_server: false });
    expect(result.replies).toEqual([
      digestOf(text.repeat(textRepeat)),
      digestOf(Buffer.concat(Array.from({ length: binaryRepeat }, () => block))),
    ]);
  }, 120_000);

  it('to /websocket are answered with "You said: <message>"', async () => {
    const { url } = await serve();
    const result = await runTornado({
      url: url('/websocket'),
      messages: [{ text: 'hello' }, { text: 'ça va? 😀' }],
    });
    expect(result.ok).toBe(true);
    expect(result.replies).toEqual([{ text: 'You said: hello' }, { text: 'You said: ça va? 😀' }]);
  });
});

describe('permessage-deflate with a Tornado client', () => {
  // What the server answers to Tornado's offer. Bun answers it itself, with no context takeover
  // either way (the README's "Running on Bun").
  const ACCEPTED = isBun
    ? 'permessage-deflate; client_no_context_takeover; server_no_context_takeover'
    : 'permessage-deflate';

  const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
  const messages = [
    { text: 'hello' },
    { text: '' },
    { text: '😀 𝄞 héllo ☃' },
    { binary: base64(everyByte) },
    { text: 'compressible '.repeat(10_000) },
    { text: 'again, with the context the previous messages left' },
  ];

  // Bun cannot keep Tornado's context (below).
  onNode('is negotiated when Tornado offers it, and every reply is exact', async () => {
    const { url } = await serve();
    const result = await runTornado({ url: url('/echo'), compression: true, messages });
    expect(result).toMatchObject({ ok: true, status: 101, extensions: ACCEPTED });
    // An exact echo: every reply is the message sent.
    expect(result.replies).toEqual(messages);
  });

  // Tornado 6.2's client drops the extension's parameters that have no value, so it keeps its
  // compression context although Bun asked it not to: Bun fails the first message that refers to
  // an earlier one (the third, whose "llo" is the first's) with 1007.
  onBun(
    'is negotiated without context takeover, and fails a message that refers to an earlier one',
    async () => {
      const { url } = await serve();
      const result = await runTornado({ url: url('/echo'), compression: true, messages });
      expect(result).toMatchObject({
        ok: true,
        status: 101,
        extensions: ACCEPTED,
        closed_by_server: true,
        close_code: 1007,
      });
      expect(result.replies).toEqual(messages.slice(0, 2));
    },
  );

  it('carries a 4 MiB message each way intact', async () => {
    const { url } = await serve();
    const text = 'deflate me ';
    const repeat = Math.ceil((4 * MiB) / text.length);
    const result = await runTornado({
      url: url('/echo'),
      compression: true,
      digest: true,
      messages: [{ text, repeat }],
    });
    expect(result).toMatchObject({ ok: true, extensions: ACCEPTED });
    expect(result.replies).toEqual([digestOf(text.repeat(repeat))]);
  }, 120_000);

  it('is not negotiated when Tornado does not offer it', async () => {
    const { url } = await serve();
    const result = await runTornado({
      url: url('/echo'),
      messages: [{ text: 'plain' }, { binary: base64(Uint8Array.of(1, 2, 3)) }],
    });
    expect(result).toMatchObject({ ok: true, extensions: null });
    expect(result.replies).toEqual([{ text: 'plain' }, { binary: base64(Uint8Array.of(1, 2, 3)) }]);
  });
});

describe('closing with a Tornado client', () => {
  it('gives the handler the code and reason Tornado sent, and echoes the code', async () => {
    const { url } = await serve();
    const result = await runTornado({
      url: url('/echo'),
      messages: [{ text: 'hi' }],
      close: { code: 4000, reason: 'au revoir ☃' },
    });
    expect(result).toMatchObject({ ok: true, closed_by_server: false, close_code: 4000 });
    expect(await serverClosed()).toEqual([{ code: 4000, reason: 'au revoir ☃' }]);
  });

  it('gives the handler a 1000 with no reason when Tornado sends only the code', async () => {
    const { url } = await serve();
    const result = await runTornado({ url: url('/echo'), close: { code: 1000 } });
    expect(result).toMatchObject({ ok: true, close_code: 1000 });
    const [close] = await serverClosed();
    expect(close?.code).toBe(1000);
    // Tornado's own handler reports None here, gale ''; either way there is no reason.
    expect(close?.reason ?? '').toBe('');
  });

  it('gives the handler no code when Tornado closes without one', async () => {
    const { url } = await serve();
    const result = await runTornado({ url: url('/echo'), messages: [{ text: 'hi' }] });
    // An empty Close frame is echoed empty, so Tornado sees no code either.
    expect(result).toMatchObject({ ok: true, closed_by_server: false, close_code: null });
    expect(await serverClosed()).toEqual([{ code: null, reason: null }]);
  });

  it('reports to Tornado the code 4001 and reason "bye" the handler closed with', async () => {
    const { url } = await serve();
    const result = await runTornado({
      url: url('/bye'),
      messages: [{ text: 'first' }, { text: 'never sent' }],
    });
    expect(result).toMatchObject({
      ok: true,
      closed_by_server: true,
      close_code: 4001,
      close_reason: 'bye',
      replies: [],
    });
    // Tornado answers the server's Close frame with the same code.
    expect((await serverClosed())[0]?.code).toBe(4001);
  });
});

describe('subprotocols with a Tornado client', () => {
  it.each([
    { offered: ['superchat'], selected: 'superchat' },
    { offered: ['chat', 'superchat'], selected: 'chat' },
    { offered: ['superchat', 'chat'], selected: 'superchat' },
    { offered: ['other', 'superchat'], selected: 'superchat' },
  ])('selects $selected when Tornado offers $offered', async ({ offered, selected }) => {
    const { url } = await serve();
    const result = await runTornado({
      url: url('/echo'),
      subprotocols: offered,
      messages: [{ text: 'hi' }],
    });
    expect(result).toMatchObject({ ok: true, selected_subprotocol: selected });
    expect(result.replies).toEqual([{ text: 'hi' }]);
  });

  it('selects none when Tornado offers only unknown ones, and the connection still works', async () => {
    const { url } = await serve();
    const result = await runTornado({
      url: url('/echo'),
      subprotocols: ['other'],
      messages: [{ text: 'hi' }],
    });
    expect(result).toMatchObject({ ok: true, selected_subprotocol: null });
    expect(result.replies).toEqual([{ text: 'hi' }]);
  });
});

describe('topics with a Tornado client (gale.v1 is for gale clients only)', () => {
  it.each([
    { offered: [], selected: null },
    { offered: ['chat'], selected: 'chat' },
  ])(
    'give Tornado exactly the plain payloads, offering $offered',
    async ({ offered, selected }) => {
      const { url } = await serve(); // resume is on by default
      const envelopeLike = '["feed","x",1]\nlooks like an envelope';
      const result = await runTornado({
        url: url('/feed'),
        subprotocols: offered, // the driver offers none for []
        messages: [
          // Not answered: the reply read after it is the greeting open() sent.
          { text: 'hello' },
          { text: 'publish n1' },
          { binary: base64(Uint8Array.of(0x0a, 1, 2)) },
          { text: `publish ${envelopeLike}` },
          { text: 'publish \nstarts like a direct message' },
          { text: 'say direct' },
        ],
      });
      expect(result).toMatchObject({
        ok: true,
        status: 101,
        selected_subprotocol: selected,
        closed_by_server: false,
      });
      expect(result.replies).toEqual([
        { text: 'welcome' },
        { text: 'n1' },
        { binary: base64(Uint8Array.of(0x0a, 1, 2)) },
        { text: envelopeLike },
        { text: '\nstarts like a direct message' },
        { text: 'direct' },
      ]);
      expect(result.unexpected_replies).toBeUndefined();
    },
  );
});

describe('origin with a Tornado client', () => {
  it('refuses a foreign Origin with 403, which Tornado reports as a failed handshake', async () => {
    const { url } = await serve();
    const result = await runTornado({
      url: url('/echo'),
      headers: { Origin: 'http://evil.example' },
      messages: [{ text: 'hi' }],
    });
    expect(result).toMatchObject({ ok: false, status: 403 });
    expect(serverCloses).toEqual([]);
  });

  it('accepts its own origin', async () => {
    const { url, port } = await serve();
    const result = await runTornado({
      url: url('/echo'),
      headers: { Origin: `http://127.0.0.1:${port}` },
      messages: [{ text: 'hi' }],
    });
    expect(result).toMatchObject({ ok: true, status: 101, replies: [{ text: 'hi' }] });
  });
});
