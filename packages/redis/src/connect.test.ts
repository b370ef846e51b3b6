import { InvalidArgumentError } from '@gale/server';
import { describe, expect, it } from 'vitest';
import { parseRedisUrl, redisHosts } from './connect.js';

describe('parseRedisUrl', () => {
  it('keeps a single-server URL as it is, for ioredis', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/2')).toEqual({
      kind: 'single',
      url: 'redis://127.0.0.1:6379/2',
    });
    expect(parseRedisUrl('rediss://user:pw@example.com:6380').kind).toBe('single');
  });

  it('reads a cluster as its seed nodes, with TLS and credentials', () => {
    expect(parseRedisUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      tls: false,
    });
    expect(parseRedisUrl('rediss+cluster://me:p%40ss@[::1]:7000/')).toEqual({
      kind: 'cluster',
      nodes: [{ host: '::1', port: 7000 }],
      tls: true,
      username: 'me',
      password: 'p@ss',
    });
  });

  it.each([
    'http://127.0.0.1:6379',
    '127.0.0.1:6379',
    'redis+cluster://',
    'redis+cluster://host',
    'redis+cluster://host:0',
    'redis+cluster://host:70000',
    'redis+cluster://a:1,,b:2',
  ])('refuses %s with InvalidArgumentError', (url) => {
    expect(() => parseRedisUrl(url)).toThrow(InvalidArgumentError);
  });
});

describe('redisHosts', () => {
  it('names the hosts without credentials', () => {
    expect(redisHosts('redis://me:secret@db.example:6380/1')).toBe('db.example:6380');
    expect(redisHosts('redis+cluster://me:secret@10.0.0.1:7000,10.0.0.2:7001')).toBe(
      '10.0.0.1:7000,10.0.0.2:7001',
    );
  });
});
