import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis.js';

const run = promisify(execFile);

/**
 * A free port for a cluster node: its cluster bus listens 10000 higher, so the port must be at
 * most 55535 (redis-server refuses to start otherwise) and that one must be free too.
 */
async function clusterPort(taken: readonly number[]): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port > 55535 || taken.includes(port) || taken.includes(port + 10000)) continue;
    if (await isFree(port + 10000)) return port;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A real Redis Cluster (Debian's redis-server and redis-cli) for one test file. */
export interface RedisClusterProcess {
  /** The seed nodes, `redis+cluster://127.0.0.1:<port>,127.0.0.1:<port>,…` (every primary). */
  readonly url: string;
  /** Every node's port; the first `primaries` are the primaries as created. */
  readonly ports: readonly number[];
  /** Runs `redis-cli -p <port> <args>` and returns what it printed. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The ports of the nodes that are primaries right now. */
  primaries(): Promise<number[]>;
  /**
   * Kills the primary on `port` (SIGKILL, no goodbye) and resolves once the cluster promoted one
   * of its replicas and is healthy again (`cluster_state:ok` on every live node).
   */
  killPrimary(port: number): Promise<void>;
  /** Stops every node and removes their files. */
  stop(): Promise<void>;
}

/**
 * Starts a Redis Cluster of `primaries` primaries with one replica each (six nodes by default)
 * on free ports of 127.0.0.1, without persistence, formed with `redis-cli --cluster create`;
 * resolves once every node reports `cluster_state:ok`. Stop it in `afterAll`. The node timeout
 * is 1 s, so a killed primary is failed over within a few seconds.
 */
export async function startRedisCluster(primaries = 3): Promise<RedisClusterProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'gale-redis-cluster-'));
  const ports: number[] = [];
  const children = new Map<number, ChildProcess>();
  for (let i = 0; i < primaries * 2; i++) ports.push(await clusterPort(ports));

  const cli = async (port: number, ...args: string[]): Promise<string> =>
    (await run('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' })).stdout;

  const started = await Promise.allSettled(
    ports.map(
      (port) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(
            '/usr/bin/redis-server',
            [
              '--port',
              String(port),
              '--bind',
              '127.0.0.1',
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              join(dir, `nodes-${port}.conf`),
              '--cluster-node-timeout',
              '1000',
              '--dir',
              dir,
              '--save',
              '',
              '--appendonly',
              'no',
            ],
            { stdio: ['ignore', 'pipe', 'pipe'] },
          );
          children.set(port, child);
          let output = '';
          const onData = (chunk: Buffer): void => {
            output += chunk.toString();
            if (output.includes('Ready to accept connections')) {
              child.stdout!.off('data', onData);
              child.stdout!.resume();
              resolve();
            }
          };
          child.stdout!.on('data', onData);
          child.stderr!.resume();
          child.once('error', reject);
          child.once('exit', (code) => {
            if (!output.includes('Ready to accept connections')) {
              reject(new Error(`redis-server exited with ${code} before it was ready:\n${output}`));
            }
          });
        }),
    ),
  );
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    // Leave no node behind (they would outlive the test run).
    for (const child of children.values()) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw failed.reason;
  }

  const healthy = async (live: readonly number[]): Promise<void> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const states = await Promise.all(live.map((port) => cli(port, 'cluster', 'info')));
      if (states.every((info) => info.includes('cluster_state:ok'))) return;
      if (Date.now() > deadline) throw new Error('the Redis Cluster did not become healthy');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  await run(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ],
    { encoding: 'utf8' },
  );
  await healthy(ports);

  const primaryPorts = async (): Promise<number[]> => {
    const live = [...children.keys()];
    const nodes = await cli(live[0]!, 'cluster', 'nodes');
    // <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slots…>
    return nodes
      .split('\n')
      .map((line) => line.split(' '))
      .filter((fields) => {
        const flags = (fields[2] ?? '').split(',');
        return flags.includes('master') && !flags.some((flag) => flag.startsWith('fail'));
      })
      .map((fields) => Number(/:(\d+)@/.exec(fields[1] ?? '')?.[1]))
      .filter((port) => children.has(port));
  };
  // Wait until every slot has a primary that agrees: the creation's own config epochs settle.
  const deadline = Date.now() + 30_000;
  while ((await primaryPorts()).length < primaries) {
    if (Date.now() > deadline) throw new Error('the Redis Cluster has too few primaries');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  // And every replica has synced with its primary: one that never did cannot take over.
  for (const port of ports) {
    for (;;) {
      const info = await cli(port, 'info', 'replication');
      if (info.includes('role:master') || info.includes('master_link_status:up')) break;
      if (Date.now() > deadline) throw new Error(`the replica on ${port} did not sync`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const stopNode = (port: number, signal: NodeJS.Signals): Promise<void> =>
    new Promise((resolve) => {
      const child = children.get(port);
      children.delete(port);
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      child.once('exit', () => resolve());
      child.kill(signal);
    });

  return {
    url: `redis+cluster://${ports
      .slice(0, primaries)
      .map((port) => `127.0.0.1:${port}`)
      .join(',')}`,
    ports,
    cli,
    primaries: primaryPorts,
    async killPrimary(port) {
      await stopNode(port, 'SIGKILL');
      const live = [...children.keys()];
      const deadline = Date.now() + 30_000;
      // A replica takes over the dead primary's slots: as many primaries as before, all alive.
      while ((await primaryPorts()).length < primaries) {
        if (Date.now() > deadline) throw new Error('no replica was promoted');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await healthy(live);
    },
    async stop() {
      await Promise.all([...children.keys()].map((port) => stopNode(port, 'SIGTERM')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
