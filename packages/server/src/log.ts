/**
 * Where @gale/server writes its log lines. `console` fits, and so does a pino logger: each
 * method takes the message first, then optional context.
 */
export interface Logger {
  info(message: string, ...context: unknown[]): void;
  warn(message: string, ...context: unknown[]): void;
  error(message: string, ...context: unknown[]): void;
}

/** A logger that drops everything: pass it as `logger` to keep tests quiet. */
export const silentLogger: Logger = {
  info() {},
  warn() {},
  error() {},
};

/**
 * One access-log line in Tornado's format: `101 GET /echo (127.0.0.1) 0.80ms`. Statuses below 400
 * are logged at info, 4xx at warn, 5xx at error (as Tornado's `log_request`).
 */
export function logAccess(
  logger: Logger,
  status: number,
  method: string,
  path: string,
  remoteAddress: string,
  startedAt: bigint,
): void {
  const ms = Number(process.hrtime.bigint() - startedAt) / 1e6;
  const line = `${status} ${method} ${path} (${remoteAddress}) ${ms.toFixed(2)}ms`;
  if (status < 400) logger.info(line);
  else if (status < 500) logger.warn(line);
  else logger.error(line);
}
