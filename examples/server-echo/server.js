import { Application, WebSocketHandler } from '@gale/server';

class EchoWebSocket extends WebSocketHandler {
  open() {
    console.log('WebSocket opened');
  }

  onMessage(message) {
    void this.writeMessage(`You said: ${message}`);
  }

  onClose() {
    console.log('WebSocket closed');
  }
}

const app = new Application([['/websocket', EchoWebSocket]]);
const server = await app.listen(Number(process.env.PORT ?? 8888), '127.0.0.1');
console.log(`listening on http://127.0.0.1:${server.address().port}/`);
