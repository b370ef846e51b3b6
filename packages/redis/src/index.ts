export { RedisBroker, type RedisBrokerOptions, type RedisBrokerStats } from './broker.js';
export { connectRedis, parseRedisUrl, type RedisTarget, redisHosts } from './connect.js';
export { BrokerUnavailableError } from './errors.js';
