import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { RedisBroker } from '@gale/redis';
import { Application, type ApplicationOptions } from '@gale/server';
import { ChatRoom } from './server/chat-room.js';
import { ChatSocket } from './server/chat-socket.js';
import { type History, MemoryHistory } from './server/history.js';
import { LoginHandler } from './server/login-handler.js';
import { LogoutHandler } from './server/logout-handler.js';
import { MemoryNicknameRegistry, type NicknameRegistry } from './server/nickname-registry.js';
import { MemoryPresence, type Presence } from './server/presence.js';
import { RedisHistory } from './server/redis-history.js';
import { RedisNicknameRegistry } from './server/redis-nickname-registry.js';
import { RedisPresence } from './server/redis-presence.js';
import { RedisStore } from './server/redis-store.js';

/** The application settings plus the chat's stores (in memory unless given) and timings. */
export interface ChatOptions extends ApplicationOptions {
  /**
   * A Redis server (`redis://host:port`) to share the room with other instances: the broker
   * and the three stores then live there. Without it, everything is in this process's memory
   * (and `registry`, `presence`, `history` may replace the stores one by one).
   */
  readonly redisUrl?: string | undefined;
  readonly registry?: NicknameRegistry;
  readonly presence?: Presence;
  readonly history?: History;
  /**
   * Milliseconds a nickname stays claimed with no tab open and no logout: after its last tab
   * closed, or after a login that no tab followed. 30,000 by default.
   */
  readonly nicknameReleaseAfterMs?: number;
  /**
   * Milliseconds between two heartbeats of this instance (it holds its users' nicknames and
   * tells Redis it is alive); an instance silent for three of them counts as dead, and its users
   * as gone. 5,000 by default (at most a third of `nicknameReleaseAfterMs`).
   */
  readonly heartbeatMs?: number;
}

/** The chat's `Application`; `ready` resolves once Redis (if any) is connected. */
export class ChatApplication extends Application {
  readonly ready: Promise<void>;
  readonly #teardown: () => Promise<void>;

  constructor(
    routes: ConstructorParameters<typeof Application>[0],
    options: ConstructorParameters<typeof Application>[1],
    ready: Promise<void>,
    teardown: () => Promise<void>,
  ) {
    super(routes, options);
    this.ready = ready;
    this.#teardown = teardown;
  }

  /** Closes the sockets and the broker, then the room's heartbeat and the Redis stores. */
  override async close(timeoutMs?: number): Promise<void> {
    try {
      await super.close(timeoutMs);
    } finally {
      await this.#teardown();
    }
  }
}

/**
 * The chat application: POST /login, GET /login, POST /logout and WS /chat. `pnpm dev` (Vite)
 * and `pnpm start` share it.
 */
export function createApplication(options: ChatOptions = {}): ChatApplication {
  const {
    redisUrl,
    registry: givenRegistry,
    presence: givenPresence,
    history: givenHistory,
    nicknameReleaseAfterMs = 30_000,
    heartbeatMs = Math.max(10, Math.min(5000, Math.floor(nicknameReleaseAfterMs / 3))),
    ...settings
  } = options;
  const { logger = console, clock } = settings;
  let store: RedisStore | undefined;
  let broker: RedisBroker | undefined;
  if (redisUrl !== undefined) {
    store = new RedisStore({ url: redisUrl, logger, clock });
    // Channels `gale:chat:room` and `gale:chat:session:<id>`.
    broker = new RedisBroker({ url: redisUrl, logger });
  }
  const registry =
    givenRegistry ??
    (store ? new RedisNicknameRegistry(store) : new MemoryNicknameRegistry({ clock }));
  const presence =
    givenPresence ??
    (store ? new RedisPresence(store, { deadAfterMs: 3 * heartbeatMs }) : new MemoryPresence());
  const history = givenHistory ?? (store ? new RedisHistory(store) : new MemoryHistory());

  const room: ChatRoom = new ChatRoom({
    registry,
    presence,
    history,
    publish: (topic, message) => app.publish(topic, message),
    releaseAfterMs: nicknameReleaseAfterMs,
    heartbeatMs,
    logger,
    clock,
  });
  const unsubscribe = broker?.onReconnect(() => void room.recover());
  const app = new ChatApplication(
    [
      ['/login', LoginHandler, { room }],
      ['/logout', LogoutHandler, { room }],
      ['/chat', ChatSocket, { room }],
    ],
    {
      // `pnpm start` refuses to start without COOKIE_SECRET outside development (below); here,
      // for `pnpm dev` and tests, a random per-process secret will do: cookies then do not
      // survive a restart, and instances that must share users need the same COOKIE_SECRET.
      cookieSecret: process.env['COOKIE_SECRET'] || randomBytes(32).toString('base64url'),
      // Far above the longest chat message (2,000 characters, JSON-escaped), which is refused
      // with an error frame; only frames no client of this page sends close the socket (1009).
      websocketMaxMessageSize: 64 * 1024,
      maxBodySize: 16 * 1024,
      ...settings,
      ...(broker ? { broker } : {}),
    },
    Promise.all([store?.ready, broker?.ready]).then(() => {}),
    async () => {
      unsubscribe?.();
      await room.close();
      await store?.close();
    },
  );
  return app;
}

// `pnpm start`: the production build of the page (dist/client) and the routes on PORT and HOST.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cookieSecret = process.env['COOKIE_SECRET'];
  if (!cookieSecret && process.env['NODE_ENV'] !== 'development') {
    console.error(
      'chat: COOKIE_SECRET is not set. Set it to a long random string (the same on every ' +
        'instance) so that login cookies survive restarts and work on every instance; ' +
        'NODE_ENV=development runs with a generated one.',
    );
    process.exit(1);
  }
  const port = Number(process.env['PORT'] ?? 8890);
  const host = process.env['HOST'] ?? '127.0.0.1';
  const redisUrl = process.env['REDIS_URL'] || undefined;
  const app = createApplication({
    redisUrl,
    staticPath: fileURLToPath(new URL('./client', import.meta.url)),
  });
  if (redisUrl !== undefined) {
    // The host only: the URL may hold a password.
    const where = URL.canParse(redisUrl) ? new URL(redisUrl).host : 'REDIS_URL';
    const waiting = setTimeout(() => console.error(`chat: waiting for Redis at ${where}…`), 2000);
    await app.ready;
    clearTimeout(waiting);
  }
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
