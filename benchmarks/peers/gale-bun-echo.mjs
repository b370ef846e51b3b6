// Gale on Bun for the server benchmark (server.mjs): the Application of gale-echo.mjs, the same
// WebSocketHandler subclasses, served by @gale/server/bun on Bun.serve's native WebSocket server.
// Run by Bun, not by Node (server.mjs starts it with the `bun` the benchmarks package installs):
//
//   node_modules/.bin/bun peers/gale-bun-echo.mjs 0
//
//   /echo    the echo app's exact echo (permessage-deflate offered; the load generator does not
//            ask for it)
//   /fanout  every connection subscribes to one topic; `publish:<n>[:<size>]` publishes n binary
//            messages of <size> bytes (default GALE_FANOUT_SIZE, 32) to everyone else, through
//            the application's broker, which Bun sends natively (framed once per message)
//
// Beside raw Bun (bun-echo.mjs) it measures what Gale costs on Bun. Listens on 127.0.0.1 and
// prints `LISTENING <port>`; SIGUSR2 runs a full collection.
import { Application, silentLogger, WebSocketHandler } from '@gale/server';
import { serve } from '@gale/server/bun';

const port = Number(process.argv[2] ?? 0);
const fanoutSize = Number(process.env.GALE_FANOUT_SIZE ?? 32);

class ExactEcho extends WebSocketHandler {
  getCompressionOptions() {
    return {};
  }
  onMessage(message) {
    void this.writeMessage(message, { binary: typeof message !== 'string' });
  }
}

class Fanout extends WebSocketHandler {
  open() {
    this.subscribe('fanout');
  }
  onMessage(message) {
    const match = typeof message === 'string' ? /^publish:(\d+)(?::(\d+))?$/.exec(message) : null;
    if (!match) return;
    const payload = Buffer.alloc(match[2] === undefined ? fanoutSize : Number(match[2]), 'x');
    for (let i = 0, n = Number(match[1]); i < n; i++) {
      this.application.publish('fanout', payload, { exclude: this });
    }
  }
}

const app = new Application(
  [
    ['/echo', ExactEcho],
    ['/fanout', Fanout],
  ],
  { logger: silentLogger, accessLog: false, websocketMaxMessageSize: 16 * 1024 * 1024 },
);

const server = serve(app, { port, hostname: '127.0.0.1' });

process.on('SIGUSR2', () => Bun.gc(true));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

process.stdout.write(`LISTENING ${server.port}\n`);
