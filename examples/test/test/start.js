import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The folder of examples/<name>. */
export const exampleDir = (name) => fileURLToPath(new URL(`../../${name}/`, import.meta.url));

/**
 * Runs `node <file>` in examples/<name> with `env` (PORT=0: a free port) and resolves once it
 * printed its "listening on http://…" line; rejects if it exits first or takes over 20 s.
 */
export function startExample(name, file, env = {}) {
  return startIn(exampleDir(name), file, env, name);
}

/** {@link startExample} for `node <file>` in any folder `dir`. */
export async function startIn(dir, file, env = {}, name = dir) {
  const child = spawn(process.execPath, [file], {
    cwd: dir,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    output += chunk;
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 20_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      output += `${line}\n`;
      const match = /^listening on (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    url,
    ws: url.replace('http:', 'ws:'),
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Writes `text` on `connection` every 100 ms until `heard` has something (20 s at most): a room
 * subscribes in open(), after the handshake, so what is said before then is not heard.
 */
export async function sayUntilHeard(connection, text, heard) {
  const deadline = Date.now() + 20_000;
  while (heard.length === 0) {
    if (Date.now() > deadline) throw new Error(`nobody heard ${JSON.stringify(text)}`);
    await connection.writeMessage(text);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
