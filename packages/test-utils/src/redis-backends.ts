import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { type RedisProcess, startRedis } from './redis.js';
import { type RedisClusterProcess, startRedisCluster } from './redis-cluster.js';

// For tests that run twice: on one redis-server, and on a real Redis Cluster (three primaries,
// three replicas, `startRedisCluster`), where an app's scripts must touch one slot each.

/** One redis-server, or a Redis Cluster. */
export type RedisKind = 'redis' | 'cluster';

/** Both, for `describe.each(REDIS_KINDS)`. */
export const REDIS_KINDS: readonly RedisKind[] = ['redis', 'cluster'];

/** A Redis (one server or a cluster) for one test file, with a client to look into it. */
export class TestRedis {
  readonly kind: RedisKind;
  #single: RedisProcess | undefined;
  #cluster: RedisClusterProcess | undefined;
  #admin: Redis | Cluster | undefined;

  constructor(kind: RedisKind) {
    this.kind = kind;
  }

  /** `redis://127.0.0.1:<port>` or `redis+cluster://127.0.0.1:<port>,…`. */
  get url(): string {
    const url = this.#single?.url ?? this.#cluster?.url;
    if (url === undefined) throw new Error('the test Redis is not started');
    return url;
  }

  /** A client of it (it reconnects by itself, and fails fast meanwhile). */
  get admin(): Redis | Cluster {
    if (this.#admin === undefined) throw new Error('the test Redis is not started');
    return this.#admin;
  }

  /** The redis-server (kind 'redis' only). */
  get single(): RedisProcess {
    if (this.#single === undefined) throw new Error('not one redis-server');
    return this.#single;
  }

  /** The cluster (kind 'cluster' only). */
  get cluster(): RedisClusterProcess {
    if (this.#cluster === undefined) throw new Error('not a Redis Cluster');
    return this.#cluster;
  }

  async start(): Promise<void> {
    if (this.kind === 'redis') this.#single = await startRedis();
    else this.#cluster = await startRedisCluster();
    const options: RedisOptions = { maxRetriesPerRequest: 0 };
    this.#admin =
      this.#single !== undefined
        ? new Redis(this.#single.url, options)
        : new Cluster(
            this.cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
            { redisOptions: options },
          );
    this.#admin.on('error', () => {});
    this.#admin.on('node error', () => {});
  }

  async stop(): Promise<void> {
    this.#admin?.disconnect();
    await this.#single?.stop();
    await this.#cluster?.stop();
  }

  /** Empties it, as a Redis restarted without its data (every primary of a cluster). */
  async flushAll(): Promise<void> {
    const admin = this.admin;
    if ('nodes' in admin) await Promise.all(admin.nodes('master').map((node) => node.flushall()));
    else await admin.flushall();
  }

  /** Redis's clock, in milliseconds. */
  async now(): Promise<number> {
    const [seconds, microseconds] = await this.admin.time();
    return Number(seconds) * 1000 + Math.floor(Number(microseconds) / 1000);
  }

  /** The port of the cluster's primary that holds `key` now. */
  async primaryOf(key: string): Promise<number> {
    const slot = Number(await this.admin.call('CLUSTER', 'KEYSLOT', key));
    const ranges = (await this.admin.call('CLUSTER', 'SLOTS')) as [
      number,
      number,
      [string, number],
    ][];
    const range = ranges.find(([from, to]) => from <= slot && slot <= to);
    if (range === undefined) throw new Error(`no primary holds slot ${slot}`);
    return Number(range[2][1]);
  }

  /**
   * Resolves once every replica of the primary on `port` has what it wrote so far (replication
   * is asynchronous: a replica promoted before that would not have it).
   */
  async replicated(port: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const info = await this.cluster.cli(port, 'info', 'replication');
      const offset = /master_repl_offset:(\d+)/.exec(info)?.[1];
      const replicas = [...info.matchAll(/^slave\d+:.*offset=(\d+)/gm)].map((match) => match[1]);
      if (replicas.length > 0 && replicas.every((replica) => replica === offset)) return;
      if (Date.now() > deadline) throw new Error(`the replicas of ${port} did not catch up`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** A `TestRedis` of `kind`, started before the tests of the enclosing suite and stopped after. */
export function useRedis(kind: RedisKind): TestRedis {
  const redis = new TestRedis(kind);
  beforeAll(() => redis.start());
  afterAll(() => redis.stop());
  return redis;
}
