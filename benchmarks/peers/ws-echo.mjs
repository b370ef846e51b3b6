// The `ws` reference server for the server and client benchmarks, with the same routes as
// @gale/test-utils's peers/tornado_echo.py and the gale echo app:
//
//   /echo       echoes every message exactly (text as text, binary as binary)
//   /websocket  replies `You said: <message>`
//   /fanout     every connection is a subscriber; the text message `publish:<n>[:<size>]` makes
//               the server send n binary messages of <size> bytes (default WS_ECHO_FANOUT_SIZE,
//               32) to every other connection, with ws's idiomatic loop over `wss.clients`
//
// Listens on 127.0.0.1 and prints exactly one line, `LISTENING <port>`, once it accepts
// connections:
//
//   node benchmarks/peers/ws-echo.mjs 0                 (0 picks a free port)
//   WS_ECHO_DEFLATE=1 node benchmarks/peers/ws-echo.mjs 0
//
// Environment: WS_ECHO_DEFLATE=1 accepts permessage-deflate on /echo (off by default, so that
// the benchmark measures framing, not zlib); WS_ECHO_SUBPROTOCOLS=a,b accepts those
// subprotocols (the first one the client offers that is in the list, as Tornado's
// select_subprotocol); WS_NO_BUFFER_UTIL=1 makes ws mask in JavaScript instead of bufferutil.
// Run with --expose-gc to let SIGUSR2 force a collection before an RSS reading.

import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { listenPeer } from './peer-process.mjs';

const MiB = 1024 * 1024;
const port = Number(process.argv[2] ?? 0);
const deflate = process.env.WS_ECHO_DEFLATE === '1';
const fanoutSize = Number(process.env.WS_ECHO_FANOUT_SIZE ?? 32);
const allowedSubprotocols = (process.env.WS_ECHO_SUBPROTOCOLS ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

/** Tornado's select_subprotocol rule: the first offered protocol that the server accepts. */
function handleProtocols(offered) {
  for (const protocol of offered) if (allowedSubprotocols.includes(protocol)) return protocol;
  return false;
}

const common = { noServer: true, maxPayload: 16 * MiB, handleProtocols };
const echo = new WebSocketServer({ ...common, perMessageDeflate: deflate });
const said = new WebSocketServer({ ...common, perMessageDeflate: false });
const fanout = new WebSocketServer({ ...common, perMessageDeflate: false });
const routes = new Map([
  ['/echo', echo],
  ['/websocket', said],
  ['/fanout', fanout],
]);

// ws emits 'error' for a peer's protocol violation (say a message over maxPayload) after it has
// already sent the right close code; without a listener the error would crash the process.
function websocketOnError() {}

echo.on('connection', (ws) => {
  ws.on('error', websocketOnError);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

said.on('connection', (ws) => {
  ws.on('error', websocketOnError);
  ws.on('message', (data) => ws.send(`You said: ${data}`));
});

fanout.on('connection', (ws) => {
  ws.on('error', websocketOnError);
  ws.on('message', (data, isBinary) => {
    const match = isBinary ? null : /^publish:(\d+)(?::(\d+))?$/.exec(data.toString());
    if (!match) return;
    const count = Number(match[1]);
    const payload = Buffer.alloc(match[2] === undefined ? fanoutSize : Number(match[2]), 'x');
    for (let i = 0; i < count; i++) {
      for (const client of fanout.clients) {
        if (client !== ws && client.readyState === WebSocket.OPEN) client.send(payload);
      }
    }
  });
});

const server = createServer((_request, response) => {
  response.writeHead(426, { 'Content-Type': 'text/plain' }).end('WebSocket only\n');
});
// accept() fails with EMFILE when the process is out of file descriptors; Node would crash on the
// unhandled 'error', where a server should drop that connection and go on.
server.on('error', (error) => process.stderr.write(`ws-echo: ${error.message}\n`));
server.on('upgrade', (request, socket, head) => {
  const wss = routes.get(new URL(request.url ?? '/', 'http://localhost').pathname);
  if (!wss) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
});

listenPeer(server, port);
