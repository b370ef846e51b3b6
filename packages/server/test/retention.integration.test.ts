import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Application, silentLogger, WebSocketHandler } from '../src/index.js';
import { isBun } from './serve-runtime.js';

// Nothing of a connection may outlive it: once it closed, however it closed, a full GC must collect
// its handler, its request and its socket. (An idle server's RSS after 10,000 connections closed
// was traced to V8 not yet having collected them, not to anything keeping them alive; this keeps
// it that way.)
//
// Node only: it forces V8's full collection and follows node:http's sockets ('connection'), and
// JavaScriptCore's collector scans stacks conservatively, so it cannot promise a count of zero.

if (!isBun) v8.setFlagsFromString('--expose-gc');
const gc = isBun ? () => {} : (vm.runInNewContext('gc') as () => void);

const N = 200;
const apps: Application[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close(500)));
});

async function openAndClose(how: 'client-close' | 'client-reset' | 'server-close') {
  const refs: WeakRef<object>[] = [];
  let closed = 0;
  class Echo extends WebSocketHandler {
    override getCompressionOptions(): object {
      return {};
    }
    override open(): void {
      refs.push(new WeakRef(this), new WeakRef(this.request));
    }
    override onMessage(message: string | Uint8Array): void {
      void this.writeMessage(message);
    }
    override onClose(): void {
      closed++;
    }
  }
  const app = new Application([['/echo', Echo]], {
    logger: silentLogger,
    accessLog: false,
    websocketCloseTimeout: 1,
  });
  apps.push(app);
  const server = await app.listen(0, '127.0.0.1');
  server.on('connection', (socket: Socket) => refs.push(new WeakRef(socket)));
  const { port } = server.address() as { port: number };
  const clients = await Promise.all(
    Array.from(
      { length: N },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          // Offers permessage-deflate (the ws client's default), which /echo accepts.
          const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
          ws.once('open', () => ws.send('hello'));
          ws.once('message', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );
  if (how === 'client-close') for (const ws of clients) ws.close(1000);
  else if (how === 'client-reset') for (const ws of clients) ws.terminate();
  else await app.close(2000);
  while (closed < N) await sleep(20);
  clients.length = 0;
  return refs;
}

async function survivors(refs: WeakRef<object>[]): Promise<number> {
  // Collections across a few turns: weak references are cleared between turns.
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(20);
  }
  return refs.filter((ref) => ref.deref() !== undefined).length;
}

describe.skipIf(isBun)('per-connection memory', () => {
  for (const how of ['client-close', 'client-reset', 'server-close'] as const) {
    it(`keeps no handler, request or socket alive after ${how}`, async () => {
      const refs = await openAndClose(how);
      expect(refs.length).toBe(3 * N);
      expect(await survivors(refs)).toBe(0);
    });
  }
});
