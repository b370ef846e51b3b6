// One app instance for the Redis fan-out benchmark (redis.mjs): WS /fanout subscribes every
// connection to one topic; the text message "publish:<n>:<size>" publishes n binary messages of
// <size> bytes to it. With REDIS_URL it uses RedisBroker (instances share the topic), else the
// in-memory broker. Listens on 127.0.0.1 on the port of its first argument (0, the default,
// picks a free one) and prints "LISTENING <port>" once it accepts connections.

import { RedisBroker } from '@gale/redis';
import { Application, MemoryBroker, silentLogger, WebSocketHandler } from '@gale/server';

class Fanout extends WebSocketHandler {
  open() {
    return this.subscribe('fanout');
  }

  onMessage(message) {
    const match = /^publish:(\d+):(\d+)$/.exec(String(message));
    if (!match) return;
    const payload = new Uint8Array(Number(match[2])).fill(0x61);
    for (let i = 0; i < Number(match[1]); i++) void this.application.publish('fanout', payload);
  }
}

const url = process.env.REDIS_URL;
const broker = url ? new RedisBroker({ url, logger: silentLogger }) : new MemoryBroker();
if (url) await broker.ready;
const app = new Application([['/fanout', Fanout]], {
  broker,
  logger: silentLogger,
  accessLog: false,
  websocketMaxBufferedAmount: 64 * 1024 * 1024,
});
const server = await app.listen(Number(process.argv[2] ?? 0), '127.0.0.1');
console.log(`LISTENING ${server.address().port}`);
process.on('SIGTERM', () => void app.close(500).then(() => process.exit(0)));
