// The Gale application of the server benchmark, written as a user of @gale/server would, with the
// same routes as ws-echo.mjs and @gale/test-utils's peers/tornado_echo.py. gale-echo.mjs serves it
// with app.listen() on Node, gale-bun-echo.mjs with serve() from @gale/server/bun on Bun.
//
//   /echo       the echo app's exact echo (permessage-deflate offered; the load generator does
//               not ask for it, as with ws and Tornado)
//   /websocket  replies `You said: <message>`
//   /fanout     every connection subscribes to one topic; `publish:<n>[:<size>]` publishes n binary
//               messages of <size> bytes (default GALE_FANOUT_SIZE, 32) to everyone else (framed
//               once per message)
import { Application, silentLogger, WebSocketHandler } from '@gale/server';

const fanoutSize = Number(process.env.GALE_FANOUT_SIZE ?? 32);

class ExactEcho extends WebSocketHandler {
  getCompressionOptions() {
    return {};
  }
  onMessage(message) {
    void this.writeMessage(message, { binary: typeof message !== 'string' });
  }
}

class YouSaid extends WebSocketHandler {
  onMessage(message) {
    void this.writeMessage(
      `You said: ${typeof message === 'string' ? message : Buffer.from(message)}`,
    );
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

/** The benchmark's Gale application: the same on Node (gale-echo.mjs) and Bun (gale-bun-echo.mjs). */
export const app = new Application(
  [
    ['/echo', ExactEcho],
    ['/websocket', YouSaid],
    ['/fanout', Fanout],
  ],
  { logger: silentLogger, accessLog: false, websocketMaxMessageSize: 16 * 1024 * 1024 },
);
