import { createConnection, createServer, type Socket } from 'node:net';

/**
 * A TCP load balancer a test owns, in front of several instances on 127.0.0.1: each connection
 * goes to the next backend in turn that accepts it (a dead one is skipped), so clients fail over
 * as behind a real balancer. `cut()` breaks every connection and refuses new ones for a while.
 */
export interface TcpProxy {
  /** The port clients connect to. */
  readonly port: number;
  /** Connections open through the proxy right now. */
  readonly connections: number;
  /**
   * Destroys every connection now and refuses new ones (closing them at once) for `ms`
   * milliseconds: what a client sees when its network drops.
   */
  cut(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a proxy to `backends` (ports on 127.0.0.1), round robin, skipping refused ones. */
export async function startTcpProxy(backends: readonly number[]): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const clients = new Set<Socket>();
  let next = 0;
  let cutUntil = 0;

  const connectBackend = (tried: number): Promise<Socket | null> => {
    if (tried >= backends.length) return Promise.resolve(null);
    const port = backends[next++ % backends.length]!;
    return new Promise((resolve) => {
      const upstream = createConnection({ host: '127.0.0.1', port });
      upstream.once('connect', () => {
        upstream.removeAllListeners('error');
        resolve(upstream);
      });
      upstream.once('error', () => {
        upstream.destroy();
        resolve(connectBackend(tried + 1));
      });
    });
  };

  const server = createServer((client) => {
    if (Date.now() < cutUntil) {
      client.destroy();
      return;
    }
    open.add(client);
    clients.add(client);
    client.pause();
    client.on('error', () => {});
    client.once('close', () => {
      open.delete(client);
      clients.delete(client);
    });
    void connectBackend(0).then((upstream) => {
      if (upstream === null || client.destroyed) {
        upstream?.destroy();
        client.destroy();
        return;
      }
      open.add(upstream);
      upstream.on('error', () => {});
      upstream.once('close', () => {
        open.delete(upstream);
        client.destroy();
      });
      client.once('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    port,
    get connections() {
      return clients.size;
    },
    async cut(ms) {
      cutUntil = Date.now() + ms;
      for (const socket of open) socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
