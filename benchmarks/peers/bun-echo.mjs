// Raw Bun for the server benchmark (server.mjs): Bun.serve with its native `websocket` handler,
// the WebSocket server of uWebSockets inside Bun, written as a Bun user would. Run by Bun, not by
// Node (server.mjs starts it with the `bun` the benchmarks package installs):
//
//   node_modules/.bin/bun peers/bun-echo.mjs 0
//
// The same routes as ws-echo.mjs and gale-echo.mjs, for what the load generator drives:
//
//   /echo    echoes every message with ws.send (text as text, binary as binary)
//   /fanout  every connection subscribes to one topic with Bun's own pub/sub; the text message
//            `publish:<n>[:<size>]` publishes n binary messages of <size> bytes (default
//            BUN_ECHO_FANOUT_SIZE, 32) to the topic
//
// permessage-deflate is off, as on the other peers' routes the load generator uses (BUN_ECHO_DEFLATE=1
// turns Bun's server-wide permessage-deflate on, to compare with Gale on Bun when a route of its
// application compresses, which turns it on for the whole server there). Listens on
// 127.0.0.1 and prints `LISTENING <port>`; SIGUSR2 runs a full collection.

const MiB = 1024 * 1024;
const port = Number(process.argv[2] ?? 0);
const fanoutSize = Number(process.env.BUN_ECHO_FANOUT_SIZE ?? 32);
const TOPIC = 'fanout';

const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch(request, server) {
    const { pathname } = new URL(request.url);
    if (pathname !== '/echo' && pathname !== '/fanout') {
      return new Response('Not Found\n', { status: 404 });
    }
    if (server.upgrade(request, { data: { isFanout: pathname === '/fanout' } })) return undefined;
    return new Response('WebSocket only\n', { status: 426 });
  },
  websocket: {
    perMessageDeflate: process.env.BUN_ECHO_DEFLATE === '1',
    maxPayloadLength: 16 * MiB,
    // Bun closes a connection after 120 s without a message by default; the idle-memory
    // measurement keeps connections idle longer than that, and the Node peers never time out.
    idleTimeout: 0,
    open(ws) {
      if (ws.data.isFanout) ws.subscribe(TOPIC);
    },
    message(ws, message) {
      if (!ws.data.isFanout) {
        ws.send(message);
        return;
      }
      const match = typeof message === 'string' ? /^publish:(\d+)(?::(\d+))?$/.exec(message) : null;
      if (!match) return;
      const payload = Buffer.alloc(match[2] === undefined ? fanoutSize : Number(match[2]), 'x');
      // The socket's own publish leaves the publisher out, as the other peers do ("to everyone
      // else"); server.publish(TOPIC, …) would send to it too. Both are uWebSockets' native
      // pub/sub, which frames each message once for all subscribers.
      for (let i = 0, n = Number(match[1]); i < n; i++) ws.publish(TOPIC, payload);
    },
  },
});

process.on('SIGUSR2', () => Bun.gc(true));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

process.stdout.write(`LISTENING ${server.port}\n`);
