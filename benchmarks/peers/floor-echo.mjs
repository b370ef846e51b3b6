// The node:http floor for the server benchmark (server.mjs): the least work a WebSocket server on
// node:http can do for each figure the benchmark takes, so that Gale's figures can be read against
// what Node itself allows. It is a ceiling, not a competitor: it validates nothing.
//
//   /echo    for each incoming frame, writes back a reply frame built once per opcode and
//            payload size (its payload is filler, not the message): only the frame header is
//            read, to know where the frame ends; nothing is unmasked or checked
//   /fanout  every connection subscribes; the text message `publish:<n>[:<size>]` (the one
//            message this peer unmasks, since it must read it) sends n binary messages of <size>
//            bytes (default FLOOR_FANOUT_SIZE, 32) to every other connection: the frame is built
//            once, and the same bytes are written to every subscriber's socket
//
// The opening handshake is a hand-written 101 with the Sec-WebSocket-Accept of RFC 6455 §4.2.2
// computed from the request's key; method, version, Upgrade and Connection headers, the key's
// form and any extension offered are not looked at. A Close frame gets a Close 1000 back and the
// end of TCP, which is what the load generator's closing handshake waits for; pings, fragments
// and anything else a real peer must handle are ignored, since the load generator sends none.
//
// What it is not: an implementation of RFC 6455. It would echo a frame it cannot read, accept a
// message of any size, and reply with bytes that are not the message: it measures the cost of
// node:http, the socket and the frame header, so that what a real server adds above it shows.
//
// Listens on 127.0.0.1 and prints `LISTENING <port>`, like ws-echo.mjs and gale-echo.mjs. Run with
// --expose-gc to let SIGUSR2 collect.

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { listenPeer } from './peer-process.mjs';

const port = Number(process.argv[2] ?? 0);
const fanoutSize = Number(process.env.FLOOR_FANOUT_SIZE ?? 32);
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'; // RFC 6455 §1.3

const OPCODE_TEXT = 0x1;
const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;

/** An unmasked server frame with FIN set (RFC 6455 §5.2) whose payload is `payload`. */
function serverFrame(opcode, payload) {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 0x10000) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(frame, header);
  return frame;
}

// The reply frames, one per opcode and payload size, shared by every connection: an echo then
// costs one write of bytes that already exist, which no real server can undercut.
const replies = new Map();
function replyFor(opcode, length) {
  const key = opcode * 2 ** 32 + length;
  let frame = replies.get(key);
  if (frame === undefined) {
    frame = serverFrame(opcode, Buffer.alloc(length, 'x'));
    replies.set(key, frame);
  }
  return frame;
}

const closeReply = serverFrame(OPCODE_CLOSE, Buffer.from([1000 >> 8, 1000 & 0xff]));

/**
 * Splits a connection's bytes into frames from their headers alone and calls
 * `onFrame(opcode, length, payload)` once each frame's last byte has arrived, so that a reply
 * never leaves before the message it answers. Payloads are skipped, not kept, unless `keep`
 * says to keep this frame's (the publish command on /fanout), in which case `payload` is the
 * unmasked payload.
 */
function frameSplitter(onFrame, keep = () => false) {
  let partial = null; // the start of a header that a read cut short
  let remaining = 0; // payload bytes of the current frame still to come
  let opcode = 0;
  let length = 0;
  let mask = null; // the masking key of a kept frame
  let kept = null; // a kept frame's payload, filled as it arrives
  return (chunk) => {
    let bytes = chunk;
    if (partial !== null) {
      bytes = Buffer.concat([partial, chunk]);
      partial = null;
    }
    let pos = 0;
    const end = bytes.length;
    while (pos < end) {
      if (remaining === 0) {
        if (end - pos < 2) {
          partial = Buffer.from(bytes.subarray(pos));
          return;
        }
        const length7 = bytes[pos + 1] & 0x7f;
        const masked = (bytes[pos + 1] & 0x80) !== 0;
        const header = (length7 === 126 ? 4 : length7 === 127 ? 10 : 2) + (masked ? 4 : 0);
        if (end - pos < header) {
          partial = Buffer.from(bytes.subarray(pos));
          return;
        }
        opcode = bytes[pos] & 0x0f;
        length =
          length7 === 126
            ? bytes.readUInt16BE(pos + 2)
            : length7 === 127
              ? bytes.readUInt32BE(pos + 2) * 2 ** 32 + bytes.readUInt32BE(pos + 6)
              : length7;
        if (keep(opcode)) {
          mask = masked ? Buffer.from(bytes.subarray(pos + header - 4, pos + header)) : null;
          kept = Buffer.allocUnsafe(length);
        }
        pos += header;
        remaining = length;
        if (length > 0) continue;
      } else {
        const take = Math.min(remaining, end - pos);
        if (kept !== null) bytes.copy(kept, length - remaining, pos, pos + take);
        pos += take;
        remaining -= take;
        if (remaining > 0) return;
      }
      let payload = null;
      if (kept !== null) {
        payload = kept;
        kept = null;
        if (mask !== null) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      }
      onFrame(opcode, length, payload);
    }
  };
}

/** Sockets subscribed to /fanout. */
const subscribers = new Set();

/** The /fanout command: n messages of `size` bytes to every subscriber but `from`. */
function publish(from, text) {
  const match = /^publish:(\d+)(?::(\d+))?$/.exec(text);
  if (!match) return;
  const frame = serverFrame(
    OPCODE_BINARY,
    Buffer.alloc(match[2] === undefined ? fanoutSize : Number(match[2]), 'x'),
  );
  // Corked for the whole loop, each subscriber's messages leave in one writev when it is
  // uncorked, instead of one write(2) per message: the least system-call work Node allows.
  for (const socket of subscribers) socket.cork();
  for (let i = 0, n = Number(match[1]); i < n; i++) {
    for (const socket of subscribers) if (socket !== from) socket.write(frame);
  }
  for (const socket of subscribers) socket.uncork();
}

const server = createServer((_request, response) => {
  response.writeHead(426, { 'Content-Type': 'text/plain' }).end('WebSocket only\n');
});
// accept() fails with EMFILE when the process is out of file descriptors: drop that connection
// and go on, as the other peers do.
server.on('error', (error) => process.stderr.write(`floor-echo: ${error.message}\n`));
server.on('upgrade', (request, socket, head) => {
  const path = request.url ?? '/';
  const isFanout = path === '/fanout';
  if (!isFanout && path !== '/echo') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const accept = createHash('sha1')
    .update(`${request.headers['sec-websocket-key']}${GUID}`)
    .digest('base64');
  socket.setNoDelay(true);
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  let isClosing = false;
  const onFrame = (opcode, length, payload) => {
    if (isClosing) return;
    if (opcode === OPCODE_CLOSE) {
      // The closing handshake of RFC 6455 §5.5.1, and the server ends TCP first (§7.1.1).
      isClosing = true;
      subscribers.delete(socket);
      socket.end(closeReply);
    } else if (isFanout) {
      if (payload !== null) publish(socket, payload.toString('latin1'));
    } else if (opcode === OPCODE_TEXT || opcode === OPCODE_BINARY) {
      socket.write(replyFor(opcode, length));
    }
  };
  const split = frameSplitter(onFrame, isFanout ? (opcode) => opcode === OPCODE_TEXT : undefined);
  if (isFanout) subscribers.add(socket);
  socket.on('data', split);
  // node:http's sockets allow half-open connections: end ours once the client has ended its own.
  socket.on('end', () => socket.end());
  socket.on('close', () => subscribers.delete(socket));
  // A reset from the client: the socket closes; there is nothing to report.
  socket.on('error', () => {});
  if (head.length > 0) split(head);
});

listenPeer(server, port);
