import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** A `pnpm start` server in its own process (dist/server.js, the production build). */
export interface ServerProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Which runtime {@link startServer} runs the app's server on. */
export type ServerRuntime = 'node' | 'bun';

/**
 * Starts `node dist/server.js` with `env` (PORT=0 picks a free port unless given) and resolves
 * once it printed its URL. With `runtime: 'bun'`, `bun dist/server.js` instead (`pnpm start:bun`),
 * by the app's own `bun` devDependency (node_modules/.bin/bun), never a Bun on the PATH.
 */
export async function startServer(
  appDir: URL,
  env: Record<string, string> = {},
  options: { readonly runtime?: ServerRuntime } = {},
): Promise<ServerProcess> {
  const command =
    options.runtime === 'bun'
      ? fileURLToPath(new URL('node_modules/.bin/bun', appDir))
      : process.execPath;
  const child = spawn(command, [fileURLToPath(new URL('dist/server.js', appDir))], {
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
    child.once('error', reject);
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

/** A peer process that printed `LISTENING <port>` (the benchmark and interop peers). */
export interface PeerProcess {
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
  stop(): Promise<void>;
}

/**
 * Spawns `command args` and resolves once it prints a `LISTENING <port>` line; rejects with the
 * end of its stderr if it exits first, or after `timeoutMs`.
 */
export async function startPeer(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<PeerProcess> {
  const { env = {}, cwd, timeoutMs = 15_000 } = options;
  const name = args.find((arg) => /\.(m?js|py)$/.test(arg)) ?? command;
  const child = spawn(command, [...args], {
    ...(cwd === undefined ? {} : { cwd }),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start in ${timeoutMs / 1000} s`));
    }, timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^LISTENING (\d+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}: ${stderr.trim()}`));
    });
  });
  return {
    port,
    pid: child.pid!,
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
