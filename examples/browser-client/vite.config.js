import { Application, WebSocketHandler } from '@gale/server';
import { defineConfig } from 'vite';

// The page's WebSocket server: /chat on Vite's own HTTP server, in `vite` and `vite preview`.
class Chat extends WebSocketHandler {
  onMessage(message) {
    void this.writeMessage(`You said: ${message}`);
  }
}

const gale = {
  name: 'gale',
  configureServer(server) {
    if (server.httpServer) new Application([['/chat', Chat]]).attach(server.httpServer);
  },
  configurePreviewServer(server) {
    new Application([['/chat', Chat]]).attach(server.httpServer);
  },
};

export default defineConfig({ plugins: [gale] });
