// JS heap per open WebSocket for gale and ws, in-process: opens N raw connections (the client
// sockets live in this process too, equally for both), forces GC, and compares heapUsed.
// Complements server.mjs's RSS figure by saying how much of it is the JavaScript heap.
//
//   pnpm --filter @gale/benchmarks bench:heap      (after pnpm build; N=3000 connections by default)
import { createRequire } from 'node:module';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Application, silentLogger, WebSocketHandler } from '@gale/server';
import { numberFromEnv } from './lib/env.mjs';
import { formatRatio } from './lib/report.mjs';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const require = createRequire(import.meta.url);
const N = numberFromEnv('N', 3000);
const HEAD =
  'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

async function startGale() {
  class Echo extends WebSocketHandler {
    onMessage(message) {
      void this.writeMessage(message);
    }
  }
  const app = new Application([['/echo', Echo]], { logger: silentLogger, accessLog: false });
  const server = await app.listen(0, '127.0.0.1');
  return { port: server.address().port, stop: () => app.close(100) };
}

async function startWs() {
  const { WebSocketServer } = require('ws');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((resolve) => wss.on('listening', resolve));
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
  return {
    port: wss.address().port,
    stop: () => {
      for (const client of wss.clients) client.terminate();
      return new Promise((resolve) => wss.close(resolve));
    },
  };
}

async function openMany(port, count) {
  const sockets = [];
  for (let i = 0; i < count; i += 100) {
    const batch = Array.from(
      { length: Math.min(100, count - i) },
      () =>
        new Promise((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => socket.write(HEAD));
          socket.once('data', () => resolve(socket));
        }),
    );
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

async function measure(name, start) {
  const server = await start();
  const warm = await openMany(server.port, 100);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const sockets = await openMany(server.port, N);
  await new Promise((resolve) => setTimeout(resolve, 500));
  gc();
  gc();
  const perConnection = (process.memoryUsage().heapUsed - before) / N;
  for (const socket of [...warm, ...sockets]) socket.destroy();
  await server.stop();
  return { name, perConnection };
}

const results = [await measure('ws', startWs), await measure('gale', startGale)];
for (const { name, perConnection } of results) {
  console.log(`${name}: ${perConnection.toFixed(0)} bytes of JS heap per connection (N=${N})`);
}
console.log(`gale ÷ ws: ${formatRatio(results[1].perConnection / results[0].perConnection)}`);
process.exit(0);
