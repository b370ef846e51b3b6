import { createServer } from 'node:http';
import {
  buildRejection,
  buildResponse,
  HandshakeError,
  Protocol,
  validateRequest,
} from '@gale/frame';

const server = createServer((_req, res) => res.end('a WebSocket server'));
server.on('upgrade', (req, socket, head) => {
  let handshake;
  try {
    handshake = validateRequest(req); // method, Upgrade, Connection, version 13, key, Host
  } catch (error) {
    if (!(error instanceof HandshakeError)) throw error;
    socket.end(buildRejection(error.status, error.message, error.headers)); // 400/405/426
    return;
  }
  socket.write(buildResponse({ key: handshake.key }));

  const protocol = new Protocol({ side: 'server' });
  const flush = () => {
    // Until none are left: a Close frame (or a protocol error) that follows messages takes
    // effect in the call after them, so that the answers leave before our Close frame.
    for (let events = protocol.eventsReceived(); events.length > 0; ) {
      for (const event of events) {
        if (event.type === 'text') protocol.sendText(event.data);
        if (event.type === 'binary') protocol.sendBinary(event.data);
      }
      events = protocol.eventsReceived();
    }
    socket.cork();
    for (const chunk of protocol.dataToSend()) socket.write(chunk);
    socket.uncork();
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
  protocol.receiveData(head);
  flush();
});
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/`);
});
