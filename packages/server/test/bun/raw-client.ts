// A WebSocket client over a plain node:net socket, driven by @gale/frame's client Protocol: the
// Bun tests see exactly what the server wrote (the status and headers of a refusal, each frame, the
// close code) with no client library's policy in between.
import { type Socket, connect as tcpConnect } from 'node:net';
import {
  acceptDeflateResponse,
  createRequest,
  offerDeflate,
  Protocol,
  type ProtocolEvent,
  validateResponse,
} from '@gale/frame';
import { Inbox } from '@gale/test-utils';

export interface HandshakeOptions {
  readonly subprotocols?: readonly string[];
  readonly origin?: string;
  readonly headers?: Record<string, string>;
  /**
   * Offer permessage-deflate; with `'use'`, also inflate what the server compresses (with
   * `'offer'` the client cannot, and fails on a compressed frame: RSV1 without an extension).
   */
  readonly deflate?: 'offer' | 'use';
  /** The request head to write instead of a valid one (for refused handshakes). */
  readonly rawHead?: string;
}

/** The server's answer to a handshake, and the connection if it was a 101. */
export interface RawClient {
  readonly status: number;
  /** Response headers, lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body of a refusal. */
  readonly body: string;
  /** Every message, ping, pong and the close event, in order. */
  readonly events: Inbox<ProtocolEvent>;
  /** Resolves when the TCP connection has closed. */
  readonly closed: Promise<void>;
  sendText(data: string): void;
  sendBinary(data: Uint8Array): void;
  ping(data?: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** Stops answering: no Pong, no Close echo (a peer that went silent). */
  mute(): void;
  /** Stops reading from the socket (a peer that takes nothing). */
  pause(): void;
  /** Reads again. */
  resume(): void;
  /** Writes raw bytes (a hand-built frame). */
  write(bytes: Uint8Array): void;
  destroy(): void;
}

/** Opens `path` on 127.0.0.1:`port`, and resolves with the server's answer. */
export function connect(
  port: number,
  path: string,
  options: HandshakeOptions = {},
): Promise<RawClient> {
  const request = createRequest({
    host: `127.0.0.1:${port}`,
    path,
    subprotocols: options.subprotocols,
    origin: options.origin,
    headers: options.headers,
    extensions: options.deflate === undefined ? undefined : offerDeflate(),
  });
  // Half-open allowed: the client ends its side when its protocol says so (or never, muted).
  const socket: Socket = tcpConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.setNoDelay(true);
  const events = new Inbox<ProtocolEvent>();
  let protocol = new Protocol({ side: 'client', maxMessageSize: 64 * 1024 * 1024 });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let muted = false;
  const flush = (): void => {
    if (muted) {
      protocol.dataToSend();
      return;
    }
    for (const chunk of protocol.dataToSend()) socket.write(chunk);
    if (protocol.shouldCloseTransport()) socket.end();
  };
  const pump = (): void => {
    for (
      let batch = protocol.eventsReceived();
      batch.length > 0;
      batch = protocol.eventsReceived()
    ) {
      for (const event of batch) events.push(event);
    }
    flush();
  };
  const client = (status: number, headers: Record<string, string>, body: string): RawClient => ({
    status,
    headers,
    body,
    events,
    closed,
    sendText: (data) => {
      protocol.sendText(data);
      flush();
    },
    sendBinary: (data) => {
      protocol.sendBinary(data);
      flush();
    },
    ping: (data) => {
      protocol.sendPing(data);
      flush();
    },
    close: (code, reason) => {
      protocol.sendClose(code, reason);
      flush();
    },
    mute: () => {
      muted = true;
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    write: (bytes) => socket.write(bytes),
    destroy: () => socket.destroy(),
  });

  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    let answered: { status: number; headers: Record<string, string>; length: number } | undefined;
    socket.once('error', reject);
    socket.on('connect', () => socket.write(options.rawHead ?? request.head));
    socket.on('data', (chunk: Buffer) => {
      if (answered?.status === 101) {
        protocol.receiveData(chunk);
        pump();
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      if (answered === undefined) {
        const lines = head.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(lines[0]!.split(' ')[1]);
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        answered = { status, headers, length: Number(headers['content-length'] ?? 0) };
        if (status === 101) {
          if (options.deflate === 'use') {
            const granted = validateResponse(
              { status, headers },
              { key: request.key, subprotocols: options.subprotocols ?? [] },
            );
            const extension = acceptDeflateResponse(granted.extensions);
            protocol = new Protocol({
              side: 'client',
              maxMessageSize: 64 * 1024 * 1024,
              extension,
            });
          }
          resolve(client(status, headers, ''));
          const rest = head.subarray(end + 4);
          if (rest.length > 0) {
            protocol.receiveData(rest);
            pump();
          }
          return;
        }
      }
      const body = head.subarray(end + 4);
      if (body.length >= answered.length) {
        resolve(client(answered.status, answered.headers, body.toString('utf8')));
        socket.destroy();
      }
    });
    socket.on('end', () => {
      protocol.receiveEof();
      pump();
      if (!muted) socket.end();
    });
    socket.on('close', () => events.end('the connection closed'));
  });
}

/** The next message event (skipping pings and pongs), or throws on a close. */
export async function nextMessage(client: RawClient): Promise<string | Uint8Array> {
  for (;;) {
    const event = await client.events.next();
    if (event.type === 'text' || event.type === 'binary') return event.data;
    if (event.type === 'close') throw new Error(`closed ${event.code} ${event.reason}`);
  }
}

/** The close event, skipping whatever comes before it. */
export async function nextClose(client: RawClient): Promise<{ code: number; reason: string }> {
  for (;;) {
    const event = await client.events.next();
    if (event.type === 'close') return { code: event.code, reason: event.reason };
  }
}
