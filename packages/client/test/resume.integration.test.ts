import { Application, MemoryBroker, silentLogger, WebSocketHandler } from '@gale/server';
import { serve, startTcpProxy, type TcpProxy, until } from '@gale/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ClientConnection,
  type GapEvent,
  type ReconnectOptions,
  websocketConnect,
} from '../src/index.node.ts';

// The Node build against a real @gale/server over gale.v1, through a TCP proxy the test owns, so
// that a connection can be cut as a network would cut it. What crosses the cut is checked message
// by message: the missed ones arrive after the reconnection, in order, once; or a gap names them.

/** What the handlers saw, for the assertions. */
const opened: { resumed: boolean; subprotocol: string | null }[] = [];

class News extends WebSocketHandler {
  override selectSubprotocol(offered: readonly string[]): string | null {
    return offered.includes('news.v1') ? 'news.v1' : null;
  }

  override async open(): Promise<void> {
    await this.subscribe('news');
    const resumed = this.resumed('news');
    opened.push({ resumed, subprotocol: this.selectedSubprotocol });
    // The app's snapshot, only when the client did not resume without loss.
    if (!resumed) await this.writeMessage({ snapshot: true });
  }

  override onMessage(message: string | Uint8Array): Promise<void> | undefined {
    // A deploy, for one connection: what Application.close({ code: 1012 }) sends to each.
    if (message === 'restart') return void this.close(1012, 'service restart');
    return this.writeMessage(`echo:${String(message)}`);
  }
}

let app: Application;
let proxy: TcpProxy;
const connections: ClientConnection[] = [];

afterEach(async () => {
  await Promise.all(connections.splice(0).map((connection) => connection.close()));
  await proxy?.close();
  await app?.close(500);
  opened.length = 0;
});

async function start(history?: ConstructorParameters<typeof MemoryBroker>[0]): Promise<string> {
  app = new Application([['/news', News]], {
    broker: new MemoryBroker(history),
    logger: silentLogger,
    accessLog: false,
  });
  const served = await serve(app);
  proxy = await startTcpProxy([Number(new URL(served.ws('/news')).port)]);
  return `ws://127.0.0.1:${proxy.port}/news`;
}

async function connect(
  url: string,
  received: string[],
  gaps: GapEvent[],
  reconnect: ReconnectOptions = { minDelay: 10, maxDelay: 50 },
): Promise<ClientConnection> {
  const connection = await websocketConnect(url, {
    reconnect,
    resume: true,
    subprotocols: ['news.v1'],
    onMessage: (message) => {
      received.push(String(message));
    },
  });
  connection.addEventListener('gap', (event) => gaps.push(event));
  connections.push(connection);
  return connection;
}

const publish = (from: number, to: number): void => {
  for (let i = from; i <= to; i++) app.publish('news', `n${i}`);
};
const range = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, k) => `n${from + k}`);

describe('resuming topics over gale.v1 (Node build, real server, real network cut)', () => {
  it('delivers what was published during a cut, in order and once, and the app never sees headers', async () => {
    const url = await start();
    const received: string[] = [];
    const gaps: GapEvent[] = [];
    const connection = await connect(url, received, gaps);
    await until(() => received.length === 1, 'the snapshot');
    expect(connection.selectedSubprotocol).toBe('news.v1');
    publish(1, 5);
    await until(() => received.length === 6, 'the first five');
    const cut = proxy.cut(300);
    await until(() => connection.state === 'reconnecting', 'the cut seen');
    publish(6, 20);
    await cut;
    await until(() => received.length === 21, 'the missed ones');
    publish(21, 22);
    await until(() => received.length === 23, 'live again');
    await connection.writeMessage('hi');
    await until(() => received.length === 24, 'the echo');
    expect(received).toEqual([JSON.stringify({ snapshot: true }), ...range(1, 22), 'echo:hi']);
    expect(gaps).toEqual([]);
    // The server resumed the second connection: no second snapshot.
    expect(opened.map((o) => o.resumed)).toEqual([false, true]);
    expect(opened.map((o) => o.subprotocol)).toEqual(['news.v1', 'news.v1']);
    expect(connection.positions().get('news')?.offset).toBe(22);
  });

  it('reports exactly what history no longer holds, then sends the rest and a snapshot', async () => {
    const url = await start({ history: { maxCount: 5 } });
    const received: string[] = [];
    const gaps: GapEvent[] = [];
    const connection = await connect(url, received, gaps);
    await until(() => received.length === 1, 'the snapshot');
    publish(1, 3);
    await until(() => received.length === 4, 'the first three');
    const epoch = connection.positions().get('news')!.epoch;
    const cut = proxy.cut(300);
    await until(() => connection.state === 'reconnecting', 'the cut seen');
    publish(4, 20); // only 16…20 are kept
    await cut;
    await until(() => received.length === 10, 'the kept ones and the snapshot');
    expect(gaps.map((gap) => ({ topic: gap.topic, from: gap.from, to: gap.to }))).toEqual([
      { topic: 'news', from: { epoch, offset: 3 }, to: { epoch, offset: 15 } },
    ]);
    // The kept ones first (the broker replays them as the subscription starts), then the app's
    // snapshot, which it sends because resumed('news') is false.
    expect(received.slice(4)).toEqual([...range(16, 20), JSON.stringify({ snapshot: true })]);
    expect(opened.map((o) => o.resumed)).toEqual([false, false]);
  });

  it('reconnects at once after 1012 instead of backing off, and resumes', async () => {
    const url = await start();
    const received: string[] = [];
    const gaps: GapEvent[] = [];
    // Without 1012 the next attempt would wait exactly 5 s (no jitter).
    const connection = await connect(url, received, gaps, { minDelay: 5000, jitter: 0 });
    await until(() => received.length === 1, 'the snapshot');
    publish(1, 2);
    await until(() => received.length === 3, 'two');
    const reconnecting = new Promise<number>((resolve) =>
      connection.addEventListener('reconnecting', (event) => resolve(event.delay), { once: true }),
    );
    connection.send('restart');
    expect(await reconnecting).toBeLessThanOrEqual(1000);
    publish(3, 4);
    await until(() => received.length === 5, 'the rest');
    expect(received.slice(1)).toEqual(range(1, 4));
    expect(gaps).toEqual([]);
    expect(opened.map((o) => o.resumed)).toEqual([false, true]);
  });
});
