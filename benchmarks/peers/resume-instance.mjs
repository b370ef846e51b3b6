// One app instance for the resume benchmark (resume.mjs). WS /t/<topic>,<topic>,… subscribes the
// connection to those topics (a gale client resumes them); WS /admin takes commands as text:
//   "fanout:<n>:<size>"          publishes n binary messages of <size> bytes to topic "fanout"
//   "publish:<topics>:<k>"       publishes k messages to each of the comma-separated topics
//   "other:<n>:<topics>"         publishes n messages spread over <topics> topics "other-<i>"
//   "cpu"                        answers process.cpuUsage() (user + system µs)
// and answers "done" after each publish command. REDIS_URL: RedisBroker, else the in-memory
// broker; HISTORY=off: no history (positions only). Listens on 127.0.0.1:<argv[2]> (0 picks one)
// and prints "LISTENING <port>".

import { RedisBroker } from '@gale/redis';
import { Application, MemoryBroker, silentLogger, WebSocketHandler } from '@gale/server';

const history = process.env.HISTORY === 'off' ? false : {};

class Topics extends WebSocketHandler {
  async open(list) {
    // All at once: with RedisBroker their reads go to Redis together.
    await Promise.all(list.split(',').map((topic) => this.subscribe(topic)));
  }
}

class Admin extends WebSocketHandler {
  async onMessage(message) {
    const [command, a, b] = String(message).split(':');
    const publish = this.application.publish.bind(this.application);
    if (command === 'cpu') {
      const { user, system } = process.cpuUsage();
      await this.writeMessage(String(user + system));
      return;
    }
    let last;
    if (command === 'fanout') {
      const payload = new Uint8Array(Number(b)).fill(0x61);
      for (let i = 0; i < Number(a); i++) last = publish('fanout', payload);
    } else if (command === 'publish') {
      for (const topic of a.split(',')) {
        for (let i = 0; i < Number(b); i++) last = publish(topic, `m${i}`);
      }
    } else if (command === 'other') {
      const topics = Number(b);
      for (let i = 0; i < Number(a); i++) {
        last = publish(`other-${i % topics}`, 'x');
        // Let Redis replies drain now and then instead of holding a million promises.
        if (i % 10_000 === 9_999) await last;
      }
    }
    await last;
    await this.writeMessage('done');
  }
}

const url = process.env.REDIS_URL;
const broker = url
  ? new RedisBroker({ url, logger: silentLogger, history })
  : new MemoryBroker({ history });
if (url) await broker.ready;
const app = new Application(
  [
    ['/t/([a-z0-9,-]+)', Topics],
    ['/admin', Admin],
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
