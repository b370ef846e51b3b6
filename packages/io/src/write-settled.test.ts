import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { writeSettled } from './write-settled.js';

class Failed extends Error {}
const failed = (cause?: Error) => new Failed('not delivered', { cause });

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

// A client socket and the server's side of it; the server side never reads.
async function pair(): Promise<{ client: Socket; peer: Socket }> {
  let accepted!: (socket: Socket) => void;
  const peer = new Promise<Socket>((resolve) => {
    accepted = resolve;
  });
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.pause();
    accepted(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  await new Promise((resolve) => client.once('connect', resolve));
  return { client, peer: await peer };
}

describe('writeSettled', () => {
  it('resolves once the bytes are in the kernel', async () => {
    const { client, peer } = await pair();
    await writeSettled(client, (callback) => client.write('hello', callback), failed);
    peer.destroy();
    client.destroy();
  });

  it('rejects when destroy() cancels a write under way, which Node reports as a success', async () => {
    const { client, peer } = await pair();
    // The client reads, so that it sees the reset on its read side first and destroys itself:
    // that is what cancels the write under way (a write that meets the reset fails by itself).
    client.resume();
    // 16 MiB each to a peer that never reads: more than loopback buffers hold.
    const big = new Uint8Array(16 * 1024 * 1024);
    // The first write is the one under way when the reset comes; the second still waits in
    // node:stream's buffer, which destroy() fails with an error of its own.
    const kept = writeSettled(client, (callback) => client.write(big, callback), failed);
    void writeSettled(client, (callback) => client.write(big, callback), failed); // ignored
    await new Promise((resolve) => setTimeout(resolve, 20));
    peer.resetAndDestroy();
    await expect(kept).rejects.toBeInstanceOf(Failed);
    // Vitest fails the run on an unhandled rejection: the ignored promise must not cause one.
    await new Promise((resolve) => setTimeout(resolve, 20));
  });

  it('rejects with the cause when the write itself fails', async () => {
    const { client, peer } = await pair();
    client.destroy();
    const error = await writeSettled(client, (callback) => client.write('late', callback), failed)
      .then(() => null)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Failed);
    expect((error as Failed).cause).toBeInstanceOf(Error);
    peer.destroy();
  });
});
