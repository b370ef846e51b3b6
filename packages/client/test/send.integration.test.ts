import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import {
  createConnection,
  type DropEvent,
  WebSocketClosedError,
  websocketConnect,
} from '../src/index.node.ts';

let wss: WebSocketServer;
let url: string;
const received: string[] = [];

beforeAll(async () => {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (ws) =>
    ws.on('message', (data, isBinary) => {
      if (!isBinary) received.push(String(data));
      ws.send(data, { binary: isBinary });
    }),
  );
  await new Promise((resolve) => wss.once('listening', resolve));
  url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  for (const client of wss.clients) client.terminate();
  await new Promise((resolve) => wss.close(resolve));
});

describe('send()', () => {
  it('sends without a promise, in order with writeMessage, text, bytes and JSON alike', async () => {
    const connection = await websocketConnect(url);
    expect(connection.send('one')).toBeUndefined();
    void connection.writeMessage('two');
    connection.send(new Uint8Array([1, 2]));
    connection.send({ three: 3 });
    expect(await connection.readMessage()).toBe('one');
    expect(await connection.readMessage()).toBe('two');
    expect([...((await connection.readMessage()) as Uint8Array)]).toEqual([1, 2]);
    expect(await connection.readJson()).toEqual({ three: 3 });
    await connection.close();
    expect(() => connection.send('late')).toThrow(WebSocketClosedError);
  });

  it('queues while connecting and reports what the queue cannot hold with a drop event', async () => {
    const connection = createConnection(url, { sendQueueSize: 1 });
    const dropped: unknown[] = [];
    connection.addEventListener('drop', (event: DropEvent) => dropped.push(event.error.data));
    connection.send('queued');
    connection.send('overflow');
    await connection.opened;
    expect(await connection.readMessage()).toBe('queued');
    expect(dropped).toEqual(['overflow']);
    await connection.close();
    expect(received).not.toContain('overflow');
  });
});
