// One app instance for the Redis fan-out benchmarks (redis.mjs, redis-cluster.mjs): WS /fanout
// subscribes every connection to the topic `fanout`, WS /fanout/<topic> to <topic>; the text
// message "publish:<n>:<size>" publishes n binary messages of <size> bytes to `fanout`, and
// "publish:<n>:<size>:<topic>,<topic>,…" n to each of those topics. With REDIS_URL (redis:// or
// redis+cluster://) it uses RedisBroker (instances share the topics; REDIS_SHARDED=0 asks it for
// classic pub/sub), else the in-memory broker. Listens on 127.0.0.1 on the port of its first
// argument (0, the default, picks a free one) and prints "LISTENING <port>" once it accepts
// connections.

import { RedisBroker } from '@gale/redis';
import { Application, MemoryBroker, silentLogger, WebSocketHandler } from '@gale/server';

class Fanout extends WebSocketHandler {
  open(topic) {
    return this.subscribe(topic ?? 'fanout');
  }

  onMessage(message) {
    const match = /^publish:(\d+):(\d+)(?::([a-z0-9,-]+))?$/.exec(String(message));
    if (!match) return;
    const payload = new Uint8Array(Number(match[2])).fill(0x61);
    const topics = match[3]?.split(',') ?? ['fanout'];
    for (let i = 0; i < Number(match[1]); i++) {
      for (const topic of topics) void this.application.publish(topic, payload);
    }
  }
}

const url = process.env.REDIS_URL;
const sharded = process.env.REDIS_SHARDED;
const broker = url
  ? new RedisBroker({
      url,
      logger: silentLogger,
      ...(sharded === undefined || sharded === '' ? {} : { shardedPubSub: sharded !== '0' }),
    })
  : new MemoryBroker();
if (url) await broker.ready;
const app = new Application(
  [
    ['/fanout', Fanout],
    ['/fanout/([a-z0-9-]+)', Fanout],
  ],
  {
    broker,
    logger: silentLogger,
    accessLog: false,
    websocketMaxBufferedAmount: 64 * 1024 * 1024,
  },
);
const server = await app.listen(Number(process.argv[2] ?? 0), '127.0.0.1');
console.log(`LISTENING ${server.address().port}`);
process.on('SIGTERM', () => void app.close(500).then(() => process.exit(0)));
