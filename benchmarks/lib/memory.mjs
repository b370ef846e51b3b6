// Servers whose memory a harness reads from the inside: each runs with --expose-gc and
// memory-probe.mjs preloaded, and answers over an IPC channel with its RSS and V8 heap figures,
// after a forced collection or as they are (see memory-probe.mjs).

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BENCHMARKS_DIR = fileURLToPath(new URL('../', import.meta.url));
const PROBE = new URL('./memory-probe.mjs', import.meta.url).href;

/**
 * How long to wait after a forced collection before reading RSS: V8 gives the freed pages back
 * to the system on background threads, and a reading taken at once was 5–9 MiB too high after
 * 10,000 connections closed, falling for up to a second.
 */
export const GC_SETTLE_MS = 1000;

/**
 * @typedef {object} MemoryReading  bytes
 * @property {number} vmRss  VmRSS from /proc/self/status
 * @property {number | null} rssAnon
 * @property {number | null} rssFile
 * @property {number} heapTotal
 * @property {number} heapUsed
 * @property {number} external
 * @property {number} arrayBuffers
 * @property {number} youngGeneration  the memory V8's young generation holds (new space and new
 *   large-object space): it grows under a burst of allocation and shrinks only when V8 sees a
 *   low allocation rate, which a forced collection does not make it see
 * @property {Record<string, number>} heapSpaces  the memory each V8 heap space holds
 * @property {number} sockets  the TCP sockets the server still holds open (not its listener)
 *
 * @typedef {object} ProbedServer
 * @property {number} port
 * @property {number} pid
 * @property {(options: { gc: boolean, waitMs?: number }) =>
 *   Promise<{ reading: MemoryReading, rightAfterGc?: MemoryReading }>} memory
 *   the server's memory now (`gc: false`), or `waitMs` after two full collections
 * @property {() => Promise<void>} stop  SIGTERM, then SIGKILL if it has not exited within 5 s
 */

/**
 * Starts `node --expose-gc --import memory-probe.mjs <script> <args>` in benchmarks/ and resolves
 * once a line of its stdout matches `ready`, whose first group is the port (the peers print
 * `LISTENING <port>`; the echo app prints its URL). Its stdout is drained from then on, so that
 * a server that logs never blocks on a full pipe.
 *
 * @param {string} script  a path, absolute or relative to benchmarks/
 * @param {object} [options]
 * @param {string[]} [options.args]
 * @param {Record<string, string>} [options.env]  added to this process's environment
 * @param {RegExp} [options.ready]
 * @param {number} [options.timeoutMs]
 * @returns {Promise<ProbedServer>}
 */
export async function startProbedServer(
  script,
  { args = ['0'], env = {}, ready = /^LISTENING (\d+)$/, timeoutMs = 15_000 } = {},
) {
  const child = spawn(process.execPath, ['--expose-gc', '--import', PROBE, script, ...args], {
    cwd: BENCHMARKS_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (/** @type {string} */ chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  /** @type {Map<number, { resolve: (value: any) => void, reject: (error: Error) => void }>} */
  const pending = new Map();
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      const error = new Error(`${script} exited with ${code ?? signal}: ${stderr.trim()}`);
      for (const { reject } of pending.values()) reject(error);
      pending.clear();
      resolve(undefined);
    });
  });
  child.on('message', (/** @type {any} */ message) => {
    const waiter = pending.get(message?.id);
    if (waiter === undefined) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`memory probe: ${message.error}`));
    else waiter.resolve(message);
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start in ${timeoutMs / 1000} s`));
    }, timeoutMs);
    createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).on(
      'line',
      (line) => {
        const match = ready.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      },
    );
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}: ${stderr.trim()}`));
    });
  });
  let nextId = 0;
  return {
    port,
    pid: /** @type {number} */ (child.pid),
    memory: ({ gc, waitMs = 0 }) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        child.send({ type: 'gale-memory-probe', id, gc, waitMs });
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
