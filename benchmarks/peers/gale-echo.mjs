// The gale server for the server benchmark (server.mjs), with the same routes as ws-echo.mjs and
// @gale/test-utils's peers/tornado_echo.py, written as a user of @gale/server would:
//
//   /echo       the echo app's exact echo (permessage-deflate offered; the load generator does
//               not ask for it, as with ws and Tornado)
//   /websocket  replies `You said: <message>`
//   /fanout     every connection subscribes to one topic; `publish:<n>[:<size>]` publishes n binary
//               messages of <size> bytes to everyone else (framed once per message)
//
// Listens on 127.0.0.1 and prints `LISTENING <port>`. Run with --expose-gc to let SIGUSR2 collect.
import { Application, silentLogger, WebSocketHandler } from '@gale/server';
import './peer-process.mjs';

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

const app = new Application(
  [
    ['/echo', ExactEcho],
    ['/websocket', YouSaid],
    ['/fanout', Fanout],
  ],
  { logger: silentLogger, accessLog: false, websocketMaxMessageSize: 16 * 1024 * 1024 },
);

const server = await app.listen(port, '127.0.0.1');
server.on('error', (error) => process.stderr.write(`gale-echo: ${error.message}\n`));
process.stdout.write(`LISTENING ${server.address().port}\n`);
