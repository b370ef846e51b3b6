import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** A real `redis-server` (Debian's package, installed by scripts/system-deps.sh) for one test file. */
export interface RedisProcess {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM; nothing is saved). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (as after a crash without persistence). */
  start(): Promise<void>;
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts `redis-server` on a free port of 127.0.0.1, without persistence, and resolves once it
 * accepts connections. Stop it in `afterAll`.
 */
export async function startRedis(): Promise<RedisProcess> {
  const port = await freePort();
  let child: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    const server = spawn(
      '/usr/bin/redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = server;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          server.stdout!.off('data', onData);
          server.stdout!.resume();
          resolve();
        }
      };
      server.stdout!.on('data', onData);
      server.stderr!.resume();
      server.once('error', reject);
      server.once('exit', (code) =>
        reject(new Error(`redis-server exited with ${code} before it was ready:\n${output}`)),
      );
    });
  };

  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const server = child;
      child = null;
      if (server === null || server.exitCode !== null || server.signalCode !== null) {
        resolve();
        return;
      }
      server.once('exit', () => resolve());
      server.kill('SIGTERM');
    });

  await start();
  return { url: `redis://127.0.0.1:${port}`, port, stop, start };
}
