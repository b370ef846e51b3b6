import { type ClientConnection, type GapEvent, websocketConnect } from '@gale/client';
import { MemoryBroker } from '@gale/server';
import { ManualClock, startTcpProxy, type TcpProxy, until } from '@gale/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_PRESENCE_GRACE_MS, ROOM_TOPIC } from '../server/chat-room.js';
import { StoreUnavailableError } from '../server/errors.js';
import type { ServerFrame } from '../server/frames.js';
import { type ChatMessage, MemoryHistory } from '../server/history.js';
import type { ChatOptions } from '../server.js';
import { RoomLog } from '../src/room-log.js';
import {
  cookieFor,
  type Frame,
  isMessage,
  isNotice,
  nick,
  openTab,
  startChat,
  type Tab,
  type TestServer,
} from './helpers.js';

// A tab that loses its network and comes back, with the page's own client settings (gale.v1:
// `resume: true`, reconnecting) and the page's own list (`RoomLog`), in Node. It reaches the
// chat through a TCP proxy the test cuts; everyone else connects directly and goes on talking.
// On resuming, the tab gets exactly what it missed, in order and once, and no second history;
// after a gap (a tiny broker history here), a history that replaces its list.

let server: TestServer | undefined;
let proxy: TcpProxy | undefined;
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  await proxy?.close();
  await server?.close();
  proxy = undefined;
  server = undefined;
});

/** The chat on a clock the test steps, and a proxy in front of it; returns the proxied /chat. */
async function start(clock: ManualClock, options: ChatOptions = {}): Promise<string> {
  server = await startChat({ clock, ...options });
  const ws = new URL(server.ws);
  proxy = await startTcpProxy([Number(ws.port)]);
  return `ws://127.0.0.1:${proxy.port}${ws.pathname}`;
}

/** A tab as the page runs it: gale.v1, reconnecting, its frames fed to the page's `RoomLog`. */
interface PageTab {
  readonly connection: ClientConnection;
  /** Every frame, in the order the page got them. */
  readonly frames: Frame[];
  readonly gaps: GapEvent[];
  readonly log: RoomLog;
  /** Whether the page asked for a history (a reconnection while one was still due). */
  readonly asked: number[];
}

async function pageTab(url: string, cookie: string): Promise<PageTab> {
  const frames: Frame[] = [];
  const gaps: GapEvent[] = [];
  const asked: number[] = [];
  const log = new RoomLog();
  log.reset();
  const connection = await websocketConnect(url, {
    headers: { Cookie: cookie },
    // The page's settings, with shorter waits.
    resume: true,
    reconnect: { minDelay: 10, maxDelay: 50 },
    onMessage: (message) => {
      const frame = JSON.parse(String(message)) as Frame;
      frames.push(frame);
      log.receive(frame as unknown as ServerFrame);
    },
  });
  // What <chat-app> does on these events.
  connection.addEventListener('gap', (event) => {
    gaps.push(event);
    if (event.topic === ROOM_TOPIC) log.expectHistory();
  });
  connection.addEventListener('reconnect', () => {
    if (!log.isHistoryDue) return;
    asked.push(frames.length);
    connection.send({ type: 'history' });
  });
  closers.push(() => connection.close());
  return { connection, frames, gaps, log, asked };
}

async function directTab(cookie: string, joining?: string): Promise<Tab> {
  const tab = await openTab(server!, cookie, joining);
  closers.push(() => tab.close());
  return tab;
}

/** Every frame `tab` reads up to and including the message `text`. */
async function readThrough(tab: Tab, text: string): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (;;) {
    const frame = await tab.next();
    frames.push(frame);
    if (isMessage(text)(frame)) return frames;
  }
}

const has = (tab: PageTab, predicate: (frame: Frame) => boolean) => () =>
  tab.frames.some(predicate);

/** The log's lines as text: `Ada: hi`, `+Bob` (joined), `-Bob` (left). */
function lines(log: RoomLog): string[] {
  return log.entries.map((entry) => {
    if (entry.kind === 'message') return `${entry.from}: ${entry.text}`;
    return `${entry.kind === 'joined' ? '+' : '-'}${entry.nickname}`;
  });
}

/** What `frames` say, one string each: `history[…]`, `Ada: hi`, `+Bob`, `-Bob`. */
function said(frames: readonly Frame[]): string[] {
  return frames.map((frame) => {
    if (frame.type === 'history') {
      const messages = frame['messages'] as ChatMessage[];
      return `history[${messages.map((m) => m.text).join(',')}]`;
    }
    if (frame.type === 'message') return `${frame['from']}: ${frame['text']}`;
    if (frame.type === 'joined') return `+${frame['nickname']}`;
    if (frame.type === 'left') return `-${frame['nickname']}`;
    return frame.type;
  });
}

describe('a tab that loses its connection (gale.v1 through a TCP cut)', () => {
  it('gets what was said meanwhile once, in order, without a second history, and nobody hears it leave', async () => {
    const clock = new ManualClock();
    const url = await start(clock);
    const [ada, bob, cleo] = [nick('ada'), nick('bob'), nick('cleo')];
    const bobTab = await directTab(await cookieFor(server!, bob), bob);
    await bobTab.send({ type: 'message', text: 'before' });
    await bobTab.until(isMessage('before'));

    const adaTab = await pageTab(url, await cookieFor(server!, ada));
    await until(has(adaTab, isNotice('joined', ada)), 'Ada in the room');
    await bobTab.until(isNotice('joined', ada));
    await bobTab.send({ type: 'message', text: 'one' });
    await until(has(adaTab, isMessage('one')), 'one');

    const cut = proxy!.cut(300);
    await until(() => adaTab.connection.state === 'reconnecting', 'the cut seen');
    // The room goes on: Bob talks, Cleo comes in.
    await bobTab.send({ type: 'message', text: 'two' });
    const cleoTab = await directTab(await cookieFor(server!, cleo), cleo);
    await cleoTab.send({ type: 'message', text: 'three' });
    const bobSaw = await readThrough(bobTab, 'three');
    await cut;
    await until(has(adaTab, isMessage('three')), 'what Ada missed');
    await adaTab.connection.writeMessage({ type: 'message', text: 'back' });
    bobSaw.push(...(await readThrough(bobTab, 'back')));

    // Her tab closed for a moment: the grace period is long over, and nobody heard her leave.
    clock.advance(DEFAULT_PRESENCE_GRACE_MS * 2);
    await server!.app.room.settled();
    await cleoTab.send({ type: 'message', text: 'four' });
    bobSaw.push(...(await readThrough(bobTab, 'four')));
    await until(has(adaTab, isMessage('four')), 'four');

    expect(said(adaTab.frames)).toEqual([
      'history[before]',
      `+${ada}`,
      `${bob}: one`,
      `${bob}: two`,
      `+${cleo}`,
      `${cleo}: three`,
      `${ada}: back`,
      `${cleo}: four`,
    ]);
    expect(lines(adaTab.log)).toEqual([
      `${bob}: before`,
      `+${ada}`,
      `${bob}: one`,
      `${bob}: two`,
      `+${cleo}`,
      `${cleo}: three`,
      `${ada}: back`,
      `${cleo}: four`,
    ]);
    expect(adaTab.log.historyVersion).toBe(1);
    expect(adaTab.gaps).toEqual([]);
    expect(adaTab.asked).toEqual([]);
    expect(said(bobSaw)).toEqual([
      `${bob}: one`,
      `${bob}: two`,
      `+${cleo}`,
      `${cleo}: three`,
      `${ada}: back`,
      `${cleo}: four`,
    ]);
  });

  it('after a gap (the broker kept too little), shows the history in place of its list, each message once', async () => {
    const clock = new ManualClock();
    // The room topic keeps 2 messages (and notices): a cut of 4 messages is a gap.
    const broker = new MemoryBroker({ history: { maxCount: 2 }, clock });
    const url = await start(clock, { broker });
    const [ada, bob] = [nick('ada'), nick('bob')];
    const bobTab = await directTab(await cookieFor(server!, bob), bob);
    const adaTab = await pageTab(url, await cookieFor(server!, ada));
    await until(has(adaTab, isNotice('joined', ada)), 'Ada in the room');
    await bobTab.send({ type: 'message', text: 'one' });
    await until(has(adaTab, isMessage('one')), 'one');
    const seen = adaTab.frames.length;

    const cut = proxy!.cut(300);
    await until(() => adaTab.connection.state === 'reconnecting', 'the cut seen');
    for (const text of ['two', 'three', 'four', 'five']) {
      await bobTab.send({ type: 'message', text });
      await bobTab.until(isMessage(text));
    }
    await cut;
    await until(() => adaTab.frames.length === seen + 3, 'the kept ones and the history');
    await bobTab.send({ type: 'message', text: 'six' });
    await until(has(adaTab, isMessage('six')), 'six');

    expect(adaTab.gaps.map((gap) => gap.topic)).toEqual([ROOM_TOPIC]);
    // The broker replays what it kept, then the server sends the history (it did not resume).
    expect(said(adaTab.frames.slice(seen))).toEqual([
      `${bob}: four`,
      `${bob}: five`,
      'history[one,two,three,four,five]',
      `${bob}: six`,
    ]);
    // The history replaced the list (her "joined" notice was only in the old one), and nothing
    // shows twice.
    expect(lines(adaTab.log)).toEqual(
      ['one', 'two', 'three', 'four', 'five', 'six'].map((text) => `${bob}: ${text}`),
    );
    expect(adaTab.log.historyVersion).toBe(2);
    // The history came by itself: the page did not have to ask.
    expect(adaTab.asked).toEqual([]);
  });

  it('asks for the history when its first socket closed before the history came (1013)', async () => {
    // The store fails the first history read: the server has already sent the room's position,
    // says so and closes with 1013; the tab resumes, so the server sends no history by itself.
    let failures = 0;
    const history = new (class extends MemoryHistory {
      override last(n: number): Promise<ChatMessage[]> {
        if (failures-- > 0) return Promise.reject(new StoreUnavailableError());
        return super.last(n);
      }
    })();
    const url = await start(new ManualClock(), { history });
    const [ada, bob] = [nick('ada'), nick('bob')];
    const bobTab = await directTab(await cookieFor(server!, bob));
    await bobTab.send({ type: 'message', text: 'earlier' });
    await bobTab.until(isMessage('earlier'));
    failures = 1;
    const adaTab = await pageTab(url, await cookieFor(server!, ada));
    await until(
      has(adaTab, (frame) => frame.type === 'history'),
      'the history',
    );
    await until(has(adaTab, isNotice('joined', ada)), 'Ada in the room');

    // The error, then (after the 1013 and the resumed reconnection) the history it asked for
    // and its "joined", in either order: the server reads the request while Ada enters.
    expect(adaTab.asked).toEqual([1]);
    const frames = said(adaTab.frames);
    expect(frames[0]).toBe('error');
    expect(frames.slice(1).sort()).toEqual([`+${ada}`, 'history[earlier]'].sort());
    expect(lines(adaTab.log)).toEqual([`${bob}: earlier`, `+${ada}`]);
  });
});
