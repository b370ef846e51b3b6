import { InvalidArgumentError } from '@gale/server';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

/**
 * Where Redis is: one server (`redis://`, `rediss://` for TLS; ioredis's URL syntax) or a Redis
 * Cluster, given by some of its nodes (seeds) as
 * `redis+cluster://host:port,host:port,…` (`rediss+cluster://` for TLS; user and password as in
 * `redis+cluster://user:pass@host:port,host:port`). Any reachable seed is enough: the client learns
 * the others from the cluster.
 */
export type RedisTarget =
  | { readonly kind: 'single'; readonly url: string }
  | {
      readonly kind: 'cluster';
      readonly nodes: readonly { readonly host: string; readonly port: number }[];
      readonly tls: boolean;
      readonly username?: string;
      readonly password?: string;
    };

const CLUSTER = /^(rediss?)\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)\/?$/;

/** Reads a Redis URL (see {@link RedisTarget}); throws `InvalidArgumentError` if malformed. */
export function parseRedisUrl(url: string): RedisTarget {
  const cluster = CLUSTER.exec(url);
  if (cluster === null) {
    if (/^rediss?:\/\//.test(url)) return { kind: 'single', url };
    throw new InvalidArgumentError(
      `Not a Redis URL: ${JSON.stringify(url)} (use redis://host:port or redis+cluster://host:port,host:port)`,
    );
  }
  const [, scheme, username, password, hosts] = cluster;
  const nodes = hosts!.split(',').map((node) => {
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(node.trim());
    const port = Number(match?.[2]);
    if (match === null || !(port > 0 && port < 65536)) {
      throw new InvalidArgumentError(`Not a cluster node (host:port): ${JSON.stringify(node)}`);
    }
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
  return {
    kind: 'cluster',
    nodes,
    tls: scheme === 'rediss',
    ...(username ? { username: decodeURIComponent(username) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
  };
}

/**
 * Where `url` points, without credentials, for logs: `host:port` of one server, or the seed nodes
 * joined with commas. Throws `InvalidArgumentError` if malformed.
 */
export function redisHosts(url: string): string {
  const target = parseRedisUrl(url);
  if (target.kind === 'cluster') return target.nodes.map((n) => `${n.host}:${n.port}`).join(',');
  return URL.canParse(target.url) ? new URL(target.url).host : '';
}

/**
 * Opens ioredis's client for `url`: a `Redis` for one server, a `Cluster` for
 * `redis+cluster://…`. `options` apply to every connection (to each node of a cluster);
 * `clusterOptions` add ioredis's cluster settings.
 */
export function connectRedis(
  url: string,
  options: RedisOptions = {},
  clusterOptions: Omit<ClusterOptions, 'redisOptions'> = {},
): Redis | Cluster {
  const target = parseRedisUrl(url);
  if (target.kind === 'single') return new Redis(url, options);
  const redisOptions: RedisOptions = {
    ...options,
    ...(target.tls ? { tls: options.tls ?? {} } : {}),
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
  };
  return new Cluster(
    target.nodes.map((node) => ({ host: node.host, port: node.port })),
    { ...clusterOptions, redisOptions },
  );
}
