import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Application, type ApplicationOptions } from '@gale/server';
import { ChatRoom } from './server/chat-room.js';
import { ChatSocket } from './server/chat-socket.js';
import { type History, MemoryHistory } from './server/history.js';
import { LoginHandler } from './server/login-handler.js';
import { LogoutHandler } from './server/logout-handler.js';
import { MemoryNicknameRegistry, type NicknameRegistry } from './server/nickname-registry.js';
import { MemoryPresence, type Presence } from './server/presence.js';

/** The application settings plus the chat's stores (in memory unless given) and timings. */
export interface ChatOptions extends ApplicationOptions {
  readonly registry?: NicknameRegistry;
  readonly presence?: Presence;
  readonly history?: History;
  /**
   * Milliseconds a nickname stays claimed with no tab open and no logout: after its last tab
   * closed, or after a login that no tab followed. 30,000 by default.
   */
  readonly nicknameReleaseAfterMs?: number;
}

/**
 * The chat application: POST /login, GET /login, POST /logout and WS /chat. `pnpm dev` (Vite)
 * and `pnpm start` share it.
 */
export function createApplication(options: ChatOptions = {}): Application {
  const {
    registry = new MemoryNicknameRegistry(),
    presence = new MemoryPresence(),
    history = new MemoryHistory(),
    nicknameReleaseAfterMs = 30_000,
    ...settings
  } = options;
  const room: ChatRoom = new ChatRoom({
    registry,
    presence,
    history,
    publish: (topic, message) => app.publish(topic, message),
    releaseAfterMs: nicknameReleaseAfterMs,
  });
  const app = new Application(
    [
      ['/login', LoginHandler, { room }],
      ['/logout', LogoutHandler, { room }],
      ['/chat', ChatSocket, { room }],
    ],
    {
      // Without COOKIE_SECRET each process signs with its own random secret: cookies do not
      // survive a restart (everyone logs in again) and several instances cannot share users.
      // Fine for `pnpm dev`; set COOKIE_SECRET (the same on every instance) when deploying.
      cookieSecret: process.env['COOKIE_SECRET'] || randomBytes(32).toString('base64url'),
      // Far above the longest chat message (2,000 characters, JSON-escaped), which is refused
      // with an error frame; only frames no client of this page sends close the socket (1009).
      websocketMaxMessageSize: 64 * 1024,
      maxBodySize: 16 * 1024,
      ...settings,
    },
  );
  return app;
}

// `pnpm start`: the production build of the page (dist/client) and the routes on PORT and HOST.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env['PORT'] ?? 8890);
  const host = process.env['HOST'] ?? '127.0.0.1';
  const app = createApplication({
    staticPath: fileURLToPath(new URL('./client', import.meta.url)),
  });
  const server = await app.listen(port, host);
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  console.log(`chat: http://${host}:${actualPort}/`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void app.close().then(() => process.exit(0));
    });
  }
}
