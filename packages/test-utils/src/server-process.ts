import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A `pnpm start` server in its own process (dist/server.js, the production build). */
export interface ServerProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `node dist/server.js` with `env` (PORT=0 picks a free port unless given) and resolves
 * once it printed its URL.
 */
export async function startServer(
  appDir: URL,
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [new URL('dist/server.js', appDir).pathname], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = /(http:\/\/[\d.]+:\d+\/)/.exec(line);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
  });
  return {
    url,
    port: Number(new URL(url).port),
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
