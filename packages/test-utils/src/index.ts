export {
  AXE_TAGS,
  type AxeOptions,
  type AxeViolation,
  axeViolations,
  expectNoAxeViolations,
  formatAxeViolations,
} from './axe.js';
export { launchChromium } from './chromium.js';
export { type ErrorCase, itKeepsTheErrorFamily } from './error-family.js';
export { holdPorts, portsInUse, requirePorts, useHeldPorts } from './fixed-ports.js';
export { type ForgedPost, type ForgeryOptions, forgePost } from './forgery.js';
export { type HtmlServer, serveHtml } from './html-server.js';
export { Inbox } from './inbox.js';
export { ManualClock } from './manual-clock.js';
export { expectFitsPhone, type PhoneFitOptions } from './phone.js';
export { readmeExample, readmeShellBlock, runReadmeExample } from './readme-example.js';
export { type LogRecord, type RecordingLogger, recordingLogger } from './recording-logger.js';
export { freePort, type RedisProcess, startRedis } from './redis.js';
export {
  REDIS_KINDS,
  type RedisKind,
  TestRedis,
  useRedis,
} from './redis-backends.js';
export { type RedisClusterProcess, startRedisCluster } from './redis-cluster.js';
export { type Listenable, type Served, serve } from './serve.js';
export {
  type PeerProcess,
  type ServerProcess,
  type ServerRuntime,
  startPeer,
  startServer,
} from './server-process.js';
export { runShellRecipe, type ShellRecipe } from './shell-recipe.js';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
export { assertTornado, PYTHON } from './tornado.js';
export { until } from './until.js';
