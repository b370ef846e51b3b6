import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { ConnectionController, type ControllerHost } from '../src/index.node.ts';

let wss: WebSocketServer;
let base: string;
const paths: string[] = [];

beforeAll(async () => {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (ws, req) => {
    paths.push(req.url ?? '');
    ws.send(`hello ${req.url}`);
  });
  await new Promise((resolve) => wss.once('listening', resolve));
  base = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const client of wss.clients) client.terminate();
  await new Promise((resolve) => wss.close(resolve));
});

// A stand-in for a LitElement: the controller needs only addController and requestUpdate.
function host() {
  const controllers: Array<{ hostConnected?(): void; hostDisconnected?(): void }> = [];
  const self = {
    updates: 0,
    addController: (c: (typeof controllers)[number]) => controllers.push(c),
    requestUpdate: () => {
      self.updates++;
    },
    connect: () => {
      for (const c of controllers) c.hostConnected?.();
    },
    disconnect: () => {
      for (const c of controllers) c.hostDisconnected?.();
    },
  };
  return self satisfies ControllerHost;
}

describe('ConnectionController', () => {
  it('connects when the host is connected, re-renders on state changes, closes when removed', async () => {
    const h = host();
    const received: unknown[] = [];
    const controller = new ConnectionController(h, `${base}/a`, {
      onMessage: (m) => {
        received.push(m);
      },
    });
    expect(controller.connection).toBeNull();
    expect(controller.state).toBe('closed');
    h.connect();
    const connection = controller.connection!;
    await connection.opened;
    expect(controller.state).toBe('open');
    expect(h.updates).toBeGreaterThanOrEqual(2); // attached, then open
    await expect.poll(() => received).toEqual(['hello /a']);
    h.disconnect();
    expect(controller.connection).toBeNull();
    await expect.poll(() => connection.state).toBe('closed');
  });

  it('moves to another URL when url is assigned, closing the old connection', async () => {
    const h = host();
    const controller = new ConnectionController(h, `${base}/first`);
    h.connect();
    const first = controller.connection!;
    await first.opened;
    controller.url = `${base}/second`;
    const second = controller.connection!;
    expect(second).not.toBe(first);
    await second.opened;
    await expect.poll(() => first.state).toBe('closed');
    expect(paths).toContain('/second');
    h.disconnect();
  });

  it('stays idle with a null url, connects once one is assigned, and goes idle again on null', async () => {
    const h = host();
    const controller = new ConnectionController(h, null);
    h.connect();
    expect(controller.connection).toBeNull();
    expect(controller.state).toBe('closed');
    controller.url = `${base}/later`;
    const connection = controller.connection!;
    await connection.opened;
    expect(controller.state).toBe('open');
    controller.url = null;
    expect(controller.connection).toBeNull();
    await expect.poll(() => connection.state).toBe('closed');
    h.disconnect();
  });
});
