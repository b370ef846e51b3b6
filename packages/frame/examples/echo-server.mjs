// The smallest WebSocket server on @gale/frame: node:http hands over the upgrade, the handshake
// functions answer it, and a Protocol per connection turns bytes into messages and back.
//
//   node examples/echo-server.mjs        then open http://127.0.0.1:8080 (PORT and HOST override)
import { createServer } from 'node:http';
import {
  buildRejection,
  buildResponse,
  HandshakeError,
  Protocol,
  validateRequest,
} from '@gale/frame';

const page = `<!doctype html><meta charset="utf-8"><title>@gale/frame echo</title>
<h1>@gale/frame echo</h1><p id="status">connecting…</p>
<form id="f"><input id="m" aria-label="Message" value="Hello, Gale"><button>Send</button></form><ul id="log"></ul>
<script>
  const ws = new WebSocket(location.origin.replace('http', 'ws') + '/echo');
  const log = (t) => document.getElementById('log').append(Object.assign(document.createElement('li'), { textContent: t }));
  ws.onopen = () => (document.getElementById('status').textContent = 'open');
  ws.onclose = (e) => (document.getElementById('status').textContent = 'closed ' + e.code);
  ws.onmessage = (e) => log('received: ' + e.data);
  document.getElementById('f').onsubmit = (e) => { e.preventDefault(); ws.send(document.getElementById('m').value); };
</script>`;

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
});

server.on('upgrade', (req, socket, head) => {
  let handshake;
  try {
    handshake = validateRequest(req);
  } catch (error) {
    if (!(error instanceof HandshakeError)) throw error;
    socket.end(buildRejection(error.status, error.message, error.headers));
    return;
  }
  socket.write(buildResponse({ key: handshake.key }));

  const protocol = new Protocol({ side: 'server' });
  const flush = () => {
    // Until none are left: a Close frame (or a protocol error) that follows messages takes
    // effect in the call after them, so that the answers leave before our Close frame.
    for (
      let events = protocol.eventsReceived();
      events.length > 0;
      events = protocol.eventsReceived()
    ) {
      for (const event of events) {
        if (event.type === 'text') protocol.sendText(event.data);
        else if (event.type === 'binary') protocol.sendBinary(event.data);
      }
    }
    const chunks = protocol.dataToSend();
    if (chunks.length > 0) {
      socket.cork();
      for (const chunk of chunks) socket.write(chunk);
      socket.uncork();
    }
    if (protocol.shouldCloseTransport()) socket.end();
  };
  socket.on('data', (data) => {
    protocol.receiveData(data);
    flush();
  });
  socket.on('end', () => {
    protocol.receiveEof();
    flush();
  });
  socket.on('error', () => socket.destroy());
  if (head.length > 0) {
    protocol.receiveData(head);
    flush();
  }
});

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
server.listen(port, host, () => {
  console.log(
    `@gale/frame echo example: http://${host}:${port} (WebSocket at ws://${host}:${port}/echo)`,
  );
  console.log(
    'The Lit demo apps arrive with @gale/server and @gale/client; until then this is the demo.',
  );
});
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => server.close(() => process.exit(0)));
