import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

// Hostile input against the echo app in its own process (so its RSS is its own), each case
// followed by a fresh client that must still get its echo.

let server: ChildProcess;
let port = 0;

beforeAll(async () => {
  server = spawn(process.execPath, [new URL('../dist/server.js', import.meta.url).pathname], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', HANDSHAKE_TIMEOUT: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  port = await new Promise<number>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) resolve(Number(m[1]));
    });
    server.once('exit', (code) => reject(new Error(`echo app exited with ${code}`)));
  });
  server.stdout!.resume();
});

afterAll(() => {
  server.kill('SIGTERM');
});

function rssBytes(): number {
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

async function expectFreshEcho(): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
  const reply = await new Promise<string>((resolve, reject) => {
    ws.once('open', () => ws.send('still serving'));
    ws.once('message', (data) => resolve(data.toString()));
    ws.once('error', reject);
  });
  expect(reply).toBe('still serving');
  ws.close();
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A raw upgraded connection: resolves once the 101 arrived; `received` collects what follows. */
function rawUpgrade(
  extraHeaders = '',
): Promise<{ socket: Socket; received: Buffer[]; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let head = Buffer.alloc(0);
    let upgraded = false;
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) return void received.push(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      if (!head.subarray(0, 12).toString().includes('101'))
        return reject(new Error(head.toString()));
      upgraded = true;
      if (head.length > end + 4) received.push(head.subarray(end + 4));
      resolve({ socket, received, closed });
    });
    socket.write(
      `GET /echo HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n${extraHeaders}\r\n`,
    );
  });
}

function maskedFrame(first: number, payload: Buffer, lengthBytes?: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  let header: Buffer;
  if (lengthBytes) header = Buffer.concat([Buffer.from([first, 0x80 | 127]), lengthBytes]);
  else if (payload.length < 126) header = Buffer.from([first, 0x80 | payload.length]);
  else if (payload.length < 65536)
    header = Buffer.from([first, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([header, mask, body]);
}

function closeCodeIn(chunks: Buffer[]): number | null {
  const data = Buffer.concat(chunks);
  let pos = 0;
  while (pos + 2 <= data.length) {
    const opcode = data[pos]! & 0x0f;
    let length = data[pos + 1]! & 0x7f;
    let h = 2;
    if (length === 126) {
      length = data.readUInt16BE(pos + 2);
      h = 4;
    } else if (length === 127) {
      length = Number(data.readBigUInt64BE(pos + 2));
      h = 10;
    }
    if (opcode === 0x8) return length >= 2 ? data.readUInt16BE(pos + h) : 1005;
    pos += h + length;
  }
  return null;
}

describe('hostile input against the echo app', () => {
  it('survives a fragment flood with memory in proportion to the bytes received', async () => {
    // ws CVE-2026-48779 / CVE-2026-62389: 20 connections, each one start frame then 100,000
    // one-byte continuations, never finished.
    const flood = Buffer.concat([
      maskedFrame(0x02, Buffer.from('a')),
      ...Array.from({ length: 100_000 }, () => maskedFrame(0x00, Buffer.from('b'))),
    ]);
    flood[0] = 0x02; // first frame without FIN
    const before = rssBytes();
    const connections = await Promise.all(Array.from({ length: 20 }, () => rawUpgrade()));
    await Promise.all(
      connections.map(
        ({ socket }) => new Promise<void>((resolve) => socket.write(flood, () => resolve())),
      ),
    );
    // Let the server read it all, then measure.
    await new Promise((r) => setTimeout(r, 500));
    const growth = rssBytes() - before;
    const wireBytes = 20 * flood.length;
    expect(growth).toBeLessThan(3 * wireBytes);
    for (const { socket } of connections) socket.destroy();
    await expectFreshEcho();
  });

  it('refuses a 200 KB header block', async () => {
    const response = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let data = '';
      socket.on('data', (c) => {
        data += c.toString();
      });
      socket.on('error', () => resolve(data));
      socket.on('close', () => resolve(data));
      socket.write(
        `GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200_000)}\r\nUpgrade: websocket\r\n\r\n`,
      );
    });
    // 431, or the connection refused outright (reset) before any response.
    if (response !== '') expect(response.startsWith('HTTP/1.1 431')).toBe(true);
    await expectFreshEcho();
  });

  it('drops 1,000 half-open handshakes after the handshake timeout', async () => {
    const sockets = await Promise.all(
      Array.from(
        { length: 1000 },
        () =>
          new Promise<Socket>((resolve) => {
            const socket = connect(port, '127.0.0.1', () => {
              socket.write('GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
              resolve(socket);
            });
            socket.on('error', () => {});
          }),
      ),
    );
    // HANDSHAKE_TIMEOUT is 1 s here: every one of them must be closed by the server.
    await Promise.all(
      sockets.map(
        (s) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r()))),
      ),
    );
    await expectFreshEcho();
  });

  it('answers the protocol-header ReDoS input (CVE-2021-32640) with 400 at once', async () => {
    const response = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let data = '';
      socket.on('data', (c) => {
        data += c.toString();
      });
      socket.on('close', () => resolve(data));
      socket.write(
        `GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
          `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Protocol: b${' '.repeat(15_000)}x\r\n\r\n`,
      );
    });
    expect(response.startsWith('HTTP/1.1 400')).toBe(true);
    await expectFreshEcho();
  });

  it('closes a deflate bomb with 1009 without inflating it', async () => {
    const { socket, received, closed } = await rawUpgrade(
      'Sec-WebSocket-Extensions: permessage-deflate\r\n',
    );
    // 256 MiB of zeros compress to about 256 KiB; the /echo limit is 16 MiB.
    const bomb = deflateRawSync(Buffer.alloc(256 * 1024 * 1024), { finishFlush: 2 }).subarray(
      0,
      -4,
    );
    const before = rssBytes();
    socket.write(maskedFrame(0xc2, bomb)); // FIN | RSV1 | binary
    await closed;
    expect(closeCodeIn(received)).toBe(1009);
    expect(rssBytes() - before).toBeLessThan(64 * 1024 * 1024);
    await expectFreshEcho();
  });

  it('closes a 64-bit length with the top bit set with 1002', async () => {
    const { socket, received, closed } = await rawUpgrade();
    socket.write(maskedFrame(0x82, Buffer.alloc(0), Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 1])));
    await closed;
    expect(closeCodeIn(received)).toBe(1002);
    await expectFreshEcho();
  });
});
