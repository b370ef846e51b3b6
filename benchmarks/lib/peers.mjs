// The peer servers the harnesses measure or measure against, each in a process of its own that
// prints `LISTENING <port>` once it accepts connections: ws-echo.mjs and gale-echo.mjs (the same
// routes: /echo, /websocket, /fanout), the node:http floor floor-echo.mjs and raw Bun's
// bun-echo.mjs (/echo and /fanout), Tornado's tornado_echo.py (in @gale/test-utils, which the
// interop tests share), and the Redis fan-out app instance.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startPeer } from '@gale/test-utils';
import { pinned } from './processes.mjs';

const BENCHMARKS_DIR = fileURLToPath(new URL('../', import.meta.url));

/**
 * @typedef {import('@gale/test-utils').PeerProcess} PeerProcess
 *
 * @typedef {object} PeerOptions
 * @property {Record<string, string>} [env]  added to this process's environment
 * @property {number} [cpu]  the CPU to pin the peer to (see processes.mjs)
 * @property {string[]} [nodeArgs]  Node options before the script, such as --expose-gc
 */

/**
 * Starts one of the Node peers in peers/ on a free port.
 *
 * @param {string} script  the file name in peers/
 * @param {PeerOptions} [options]
 * @returns {Promise<PeerProcess>}
 */
export function startNodePeer(script, { env, cpu, nodeArgs = [] } = {}) {
  const path = fileURLToPath(new URL(`../peers/${script}`, import.meta.url));
  return start(pinned(cpu, [process.execPath, ...nodeArgs, path, '0']), env);
}

/**
 * The first interpreter that can import tornado: $PYTHON, python3 on PATH, Debian's; null when
 * none can.
 *
 * @returns {{ python: string, version: string } | null}
 */
export function findTornadoPython() {
  for (const python of [process.env['PYTHON'], 'python3', '/usr/bin/python3']) {
    if (!python) continue;
    const probe = spawnSync(python, ['-c', 'import tornado; print(tornado.version)'], {
      encoding: 'utf8',
    });
    if (probe.status === 0) return { python, version: probe.stdout.trim() };
  }
  return null;
}

/**
 * Starts @gale/test-utils's Tornado echo server with `python` on a free port.
 *
 * @param {string} python  an interpreter that can import tornado ({@link findTornadoPython})
 * @param {PeerOptions} [options]  (nodeArgs do not apply)
 * @returns {Promise<PeerProcess>}
 */
export function startTornadoEcho(python, { env, cpu } = {}) {
  const path = fileURLToPath(import.meta.resolve('@gale/test-utils/peers/tornado_echo.py'));
  return start(pinned(cpu, [python, path, '0']), env);
}

/**
 * The `bun` that the benchmarks package installs (the `bun` package, pinned in package.json,
 * whose install script puts the binary of its @oven/bun-* package in place), with its version;
 * null with the reason when it is missing or does not run. Never a `bun` on PATH: the figures
 * must come from the pinned version.
 *
 * @returns {{ bun: string, version: string } | { bun: null, reason: string }}
 */
export function findBun() {
  const bun = fileURLToPath(new URL('../node_modules/.bin/bun', import.meta.url));
  if (!existsSync(bun)) {
    return { bun: null, reason: 'benchmarks/node_modules/.bin/bun is missing (pnpm install)' };
  }
  const probe = spawnSync(bun, ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    const why = probe.error?.message ?? (probe.stderr.trim() || `exit ${probe.status}`);
    return { bun: null, reason: `benchmarks/node_modules/.bin/bun does not run: ${why}` };
  }
  return { bun, version: probe.stdout.trim() };
}

/**
 * Starts one of the Bun peers in peers/ (bun-echo.mjs) with `bun` on a free port.
 *
 * @param {string} bun  the binary {@link findBun} found
 * @param {string} script  the file name in peers/
 * @param {PeerOptions} [options]  (nodeArgs do not apply)
 * @returns {Promise<PeerProcess>}
 */
export function startBunPeer(bun, script, { env, cpu } = {}) {
  const path = fileURLToPath(new URL(`../peers/${script}`, import.meta.url));
  return start(pinned(cpu, [bun, path, '0']), env);
}

/**
 * @param {[string, ...string[]]} argv
 * @param {Record<string, string> | undefined} env
 */
function start([command, ...args], env) {
  return startPeer(command, args, { cwd: BENCHMARKS_DIR, ...(env === undefined ? {} : { env }) });
}
