import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { RedisBroker, redisHosts } from '@gale/redis';
import { Application, type ApplicationOptions, type Broker, MemoryBroker } from '@gale/server';
import {
  BROKER_HISTORY,
  ChatRoom,
  DEFAULT_LIVENESS_MS,
  DEFAULT_PRESENCE_GRACE_MS,
} from './server/chat-room.js';
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

// ─── Settings ────────────────────────────────────────────────────────────────────────────────

/** How long a nickname stays claimed with no tab open and no logout when nothing else says. */
export const DEFAULT_NICKNAME_RELEASE_AFTER_MS = 30_000;
/** How often an instance beats when nothing else says (more often for a release delay under 15 s). */
export const DEFAULT_HEARTBEAT_MS = 5_000;

/** The application settings (`clock` included) plus the chat's stores and timings. */
export interface ChatOptions extends ApplicationOptions {
  /**
   * A Redis server (`redis://host:port`) or a Redis Cluster (`redis+cluster://host:port,…`, some
   * of its nodes) to share the room with other instances: the broker and the three stores then
   * live there. Without it, everything is in this process's memory
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
   * makes Redis's presence match its connections). 5,000 by default (at most a third of
   * `nicknameReleaseAfterMs`).
   */
  readonly heartbeatMs?: number;
  /**
   * Milliseconds "left" waits after a user's last tab closed, in case a tab of theirs comes back
   * (a reload, a reconnection, on any instance): then the others hear neither "left" nor
   * "joined". 5,000 by default (`PRESENCE_GRACE_MS` for `pnpm start`); 0 announces at once.
   */
  readonly presenceGraceMs?: number;
  /**
   * Milliseconds between two beats of presence: the cheap proof that this instance is alive, and
   * the sweep of dead instances and of the grace periods that are over. An instance silent for
   * three of them counts as dead, and its users leave at the next beat of any other: within four
   * beats of its death. 1,000 by default.
   */
  readonly livenessMs?: number;
}

// Without COOKIE_SECRET, cookies are signed with a random secret made once per process (kept on
// globalThis so that a `pnpm dev` reload of this module keeps everyone logged in). Such cookies
// do not survive a restart and are not shared between processes, which is why `pnpm start`
// refuses to run without COOKIE_SECRET unless NODE_ENV=development.
function devCookieSecret(): string {
  const key = Symbol.for('chat.devCookieSecret');
  const store = globalThis as { [key]?: string };
  store[key] ??= randomBytes(32).toString('base64url');
  return store[key];
}

// ─── Stores: in memory, or in Redis ──────────────────────────────────────────────────────────

/**
 * What the room keeps, where; and the broker that carries its topics (to every instance, with
 * Redis) and keeps the room topic's recent messages for tabs that reconnect (`BROKER_HISTORY`).
 */
interface ChatStores {
  readonly registry: NicknameRegistry;
  readonly presence: Presence;
  readonly history: History;
  readonly broker: Broker;
  /** Redis only: the broker, to hear when it reconnected. */
  readonly redisBroker?: RedisBroker;
  /** Resolves once the stores and the broker are connected. */
  readonly ready: Promise<void>;
  /** Closes their connections. */
  close(): Promise<void>;
}

function memoryStores(options: ChatOptions): ChatStores {
  return {
    registry: options.registry ?? new MemoryNicknameRegistry({ clock: options.clock }),
    presence: options.presence ?? new MemoryPresence(),
    history: options.history ?? new MemoryHistory(),
    // A broker of the caller's (a test's, with a tiny history) or the room's.
    broker: options.broker ?? new MemoryBroker({ history: BROKER_HISTORY, clock: options.clock }),
    ready: Promise.resolve(),
    close: async () => {},
  };
}

function redisStores(redisUrl: string, livenessMs: number, options: ChatOptions): ChatStores {
  const { logger = console, clock } = options;
  const store = new RedisStore({ url: redisUrl, logger, clock });
  // Channels `gale:chat:room` and `gale:chat:session:<id>`; the room topic's history in Redis
  // too, so a tab resumes on any instance.
  const broker = new RedisBroker({ url: redisUrl, logger, history: BROKER_HISTORY });
  return {
    registry: options.registry ?? new RedisNicknameRegistry(store),
    presence:
      options.presence ??
      new RedisPresence(store, {
        deadAfterMs: 3 * livenessMs,
        takeOverAfterMs: livenessMs,
      }),
    history: options.history ?? new RedisHistory(store),
    broker,
    redisBroker: broker,
    ready: Promise.all([store.ready, broker.ready]).then(() => {}),
    close: () => store.close(),
  };
}

// ─── The application ─────────────────────────────────────────────────────────────────────────

/**
 * The chat's `Application`: its routes over one `ChatRoom`, which it closes with itself. `ready`
 * resolves once Redis (if any) is connected.
 */
export class ChatApplication extends Application {
  readonly room: ChatRoom;
  readonly ready: Promise<void>;
  readonly #stores: ChatStores;
  readonly #stopRecovering: () => void;

  constructor(room: ChatRoom, stores: ChatStores, options: ApplicationOptions) {
    super(
      [
        ['/login', LoginHandler, { room }],
        ['/logout', LogoutHandler, { room }],
        ['/chat', ChatSocket, { room }],
      ],
      options,
    );
    this.room = room;
    this.ready = stores.ready;
    this.#stores = stores;
    // When this instance's connection to Redis comes back, the broker replays what its tabs
    // missed from the room's stream; what Redis no longer holds (it restarted empty) reaches them
    // as a gap. The room also sends the history afresh then, so every tab ends up with it.
    this.#stopRecovering = stores.redisBroker?.onReconnect(() => void room.recover()) ?? (() => {});
  }

  /** Closes the sockets and the broker, then the room's heartbeat and the Redis stores. */
  override async close(timeoutMs?: number): Promise<void> {
    this.#stopRecovering();
    try {
      await super.close(timeoutMs);
    } finally {
      await this.room.close();
      await this.#stores.close();
    }
  }
}

/**
 * The chat application: POST /login, GET /login, POST /logout and WS /chat. `pnpm dev` (the Vite
 * plugin calls it with no arguments) and `pnpm start` share it.
 */
export function createApplication(options: ChatOptions = {}): ChatApplication {
  // Settings, and the cookie secret.
  const {
    redisUrl,
    registry,
    presence,
    history,
    nicknameReleaseAfterMs = DEFAULT_NICKNAME_RELEASE_AFTER_MS,
    heartbeatMs = Math.max(
      10,
      Math.min(DEFAULT_HEARTBEAT_MS, Math.floor(nicknameReleaseAfterMs / 3)),
    ),
    presenceGraceMs = DEFAULT_PRESENCE_GRACE_MS,
    livenessMs = DEFAULT_LIVENESS_MS,
    ...settings
  } = options;
  const { logger = console, clock } = settings;
  const cookieSecret = process.env['COOKIE_SECRET'] || devCookieSecret();
  // Stores: in this process's memory, or in Redis with the broker.
  const stores =
    redisUrl === undefined ? memoryStores(options) : redisStores(redisUrl, livenessMs, options);
  // The application.
  const room: ChatRoom = new ChatRoom({
    registry: stores.registry,
    presence: stores.presence,
    history: stores.history,
    publish: (topic, message) => app.publish(topic, message),
    releaseAfterMs: nicknameReleaseAfterMs,
    heartbeatMs,
    presenceGraceMs,
    livenessMs,
    logger,
    clock,
  });
  const app = new ChatApplication(room, stores, {
    cookieSecret,
    // POST /login and /logout must come from this origin and carry the _xsrf cookie's token (403
    // otherwise): the page sends it in X-XSRFToken. SameSite=Lax alone lets a page on another
    // port log you out, or in as someone else.
    xsrfCookies: true,
    // Far above the longest chat message (2,000 characters, JSON-escaped), which is refused
    // with an error frame; only frames no client of this page sends close the socket (1009).
    websocketMaxMessageSize: 64 * 1024,
    maxBodySize: 16 * 1024,
    ...settings,
    broker: stores.broker,
  });
  return app;
}

// ─── `pnpm start` ────────────────────────────────────────────────────────────────────────────

// The production build of the page (dist/client) and the routes on PORT and HOST; REDIS_URL
// shares the room with every other instance on the same Redis (`redis://host:port`) or Redis
// Cluster (`redis+cluster://host:port,host:port`).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.env['COOKIE_SECRET'] && process.env['NODE_ENV'] !== 'development') {
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
  // Where Redis is, for the messages: the hosts only (the URL may hold a password).
  let where = '';
  try {
    where = redisUrl === undefined ? '' : redisHosts(redisUrl);
  } catch {
    // (Not the URL itself, which may hold a password.)
    console.error(
      'chat: REDIS_URL must be redis://host:port or redis+cluster://host:port,host:port',
    );
    process.exit(1);
  }
  // PRESENCE_GRACE_MS: how long "left" waits for a tab to come back (milliseconds, 5000).
  const grace = process.env['PRESENCE_GRACE_MS'] || undefined;
  const presenceGraceMs = grace === undefined ? undefined : Number(grace);
  if (
    presenceGraceMs !== undefined &&
    !(Number.isInteger(presenceGraceMs) && presenceGraceMs >= 0)
  ) {
    console.error(`chat: PRESENCE_GRACE_MS must be a whole number of milliseconds, not ${grace}`);
    process.exit(1);
  }
  // TRUSTED_PROXIES (addresses or subnets, comma-separated): the reverse proxies whose
  // X-Forwarded-For and X-Forwarded-Proto are believed, for client addresses and Secure cookies.
  const trustedProxies = (process.env['TRUSTED_PROXIES'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const app = createApplication({
    staticPath: fileURLToPath(new URL('./client', import.meta.url)),
    redisUrl,
    ...(presenceGraceMs === undefined ? {} : { presenceGraceMs }),
    ...(trustedProxies.length > 0 ? { xheaders: true, trustedProxies } : {}),
  });
  if (redisUrl !== undefined) {
    const waiting = setTimeout(
      () => console.error(`chat: waiting for Redis at ${where || 'REDIS_URL'}…`),
      2000,
    );
    await app.ready;
    clearTimeout(waiting);
  }
  let actualPort: number;
  if ('bun' in process.versions) {
    // `pnpm start:bun`: the same application on Bun's own HTTP and WebSocket server.
    const { serve } = await import('@gale/server/bun');
    actualPort = serve(app, { port, hostname: host }).port;
  } else {
    const address = (await app.listen(port, host)).address();
    actualPort = typeof address === 'object' && address ? address.port : port;
  }
  console.log(`chat: http://${host}:${actualPort}/`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void app.close().then(() => process.exit(0));
    });
  }
}
