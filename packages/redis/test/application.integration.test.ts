import { type ClientConnection, websocketConnect } from '@gale/client';
import { Application, silentLogger, WebSocketHandler } from '@gale/server';
import { type RedisProcess, serve, startRedis } from '@gale/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../src/index.ts';

// Handlers stay as they are with one instance: subscribe() and app.publish(); only the broker
// changes. Two Applications on one redis-server stand for two instances behind a load balancer.
class Room extends WebSocketHandler {
  override async open(): Promise<void> {
    await this.subscribe('room');
    // A client's handshake completes before open() has subscribed: what is published before
    // then is not its to hear. Saying so lets the test speak only to clients that listen (on a
    // loaded machine, the subscription can take longer than the other client's first message).
    void this.writeMessage({ joined: true });
  }

  override onMessage(message: string | Uint8Array): void {
    void this.application.publish('room', { said: String(message) }, { exclude: this });
  }
}

let redis: RedisProcess;
const apps: Application[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await Promise.all(apps.map((app) => app.close(500)));
  await redis?.stop();
});

async function instance(): Promise<string> {
  const broker = new RedisBroker({ url: redis.url, logger: silentLogger });
  await broker.ready;
  const app = new Application([['/room', Room]], {
    broker,
    logger: silentLogger,
    accessLog: false,
  });
  apps.push(app);
  return (await serve(app)).ws('/room');
}

/** A client in the room: connected, and subscribed on its instance. */
async function join(url: string): Promise<ClientConnection> {
  const connection = await websocketConnect(url);
  expect(await connection.readJson()).toEqual({ joined: true });
  return connection;
}

describe('two Applications sharing a RedisBroker', () => {
  it('delivers what a client on one instance says to clients on both, but not back to it', async () => {
    const [urlA, urlB] = [await instance(), await instance()];
    const [alice, bob, carol] = await Promise.all([join(urlA), join(urlB), join(urlA)]);
    await alice.writeMessage('hi from A');
    expect(await bob.readJson()).toEqual({ said: 'hi from A' });
    expect(await carol.readJson()).toEqual({ said: 'hi from A' });
    await bob.writeMessage('hi from B');
    expect(await alice.readJson()).toEqual({ said: 'hi from B' });
    expect(await carol.readJson()).toEqual({ said: 'hi from B' });
    await Promise.all([alice.close(), bob.close(), carol.close()]);
    // alice never received her own message: the first thing she read was bob's.
  });
});
