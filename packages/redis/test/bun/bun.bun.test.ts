// @gale/server/bun with a RedisBroker: two Applications on one redis-server, each served by Bun,
// stand for two instances behind a load balancer. Runs under Bun (`pnpm test:bun`), which loads
// @gale/server from its build (dist): build it first, as `pnpm test` does.
import { Application, silentLogger, WebSocketHandler } from '@gale/server';
import { serve } from '@gale/server/bun';
import { Inbox, type RedisProcess, startRedis } from '@gale/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/index.ts';

/** Bun's global WebSocket client, typed for what the test uses. */
interface ClientSocket {
  onopen: (() => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  send(data: string): void;
  close(): void;
}
const ClientWebSocket = (globalThis as unknown as { WebSocket: new (url: string) => ClientSocket })
  .WebSocket;

class Room extends WebSocketHandler {
  override async open(): Promise<void> {
    await this.subscribe('room');
    void this.writeMessage('joined');
  }

  override onMessage(message: string | Uint8Array): void {
    void this.application.publish('room', `said ${String(message)}`, { exclude: this });
  }
}

let redis: RedisProcess;
const apps: Application[] = [];
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await Promise.all(apps.map((app) => app.close(500)));
  await redis?.stop();
});

async function instance(): Promise<number> {
  const broker = new RedisBroker({ url: redis.url, logger: silentLogger });
  await broker.ready;
  const app = new Application([['/room', Room]], {
    broker,
    logger: silentLogger,
    accessLog: false,
  });
  apps.push(app);
  return serve(app, { port: 0, hostname: '127.0.0.1' }).port;
}

/** A client in the room: connected, and subscribed on its instance. */
interface Member {
  readonly heard: Inbox<string>;
  readonly socket: ClientSocket;
}

async function join(port: number): Promise<Member> {
  const heard = new Inbox<string>();
  const socket = new ClientWebSocket(`ws://127.0.0.1:${port}/room`);
  sockets.push(socket);
  socket.onmessage = (event) => heard.push(String(event.data));
  await new Promise<void>((resolve) => {
    socket.onopen = resolve;
  });
  expect(await heard.next()).toBe('joined');
  return { heard, socket };
}

describe('two Bun instances sharing a RedisBroker', () => {
  it('delivers what a client on one instance says to clients on both, but not back to it', async () => {
    const [portA, portB] = [await instance(), await instance()];
    const alice = await join(portA);
    const bob = await join(portB);
    const carol = await join(portA);
    alice.socket.send('hi from A');
    expect(await bob.heard.next()).toBe('said hi from A');
    expect(await carol.heard.next()).toBe('said hi from A');
    bob.socket.send('hi from B');
    expect(await carol.heard.next()).toBe('said hi from B');
    // Alice was left out of her own message: the next thing she hears is Bob's.
    expect(await alice.heard.next()).toBe('said hi from B');
  });
});
