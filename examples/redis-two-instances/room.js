import { RedisBroker } from '@gale/redis';
import { Application, WebSocketHandler } from '@gale/server';

class Room extends WebSocketHandler {
  async open() {
    await this.subscribe('room');
  }

  onMessage(message) {
    void this.application.publish('room', { said: String(message) }, { exclude: this });
  }
}

const broker = new RedisBroker({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
const app = new Application([['/room', Room]], { broker });
const server = await app.listen(Number(process.env.PORT ?? 8888), '127.0.0.1');
console.log(`listening on http://127.0.0.1:${server.address().port}/`);
