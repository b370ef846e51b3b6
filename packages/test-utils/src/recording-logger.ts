/** One call to a {@link RecordingLogger}. */
export interface LogRecord {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  /** What was passed after the message (an error, usually). */
  readonly context: readonly unknown[];
}

/**
 * A logger (the shape of @gale/server's `Logger`: `info`, `warn`, `error`, each a message then
 * context) that prints nothing and keeps everything, for a test to assert on what was logged.
 */
export interface RecordingLogger {
  info(message: string, ...context: unknown[]): void;
  warn(message: string, ...context: unknown[]): void;
  error(message: string, ...context: unknown[]): void;
  /** Every call, in order. */
  readonly records: LogRecord[];
  /** The messages of every call, in order, at any level. */
  readonly lines: string[];
  /** The context of every `error` call, flattened, in order (the errors that were logged). */
  readonly errors: unknown[];
}

/**
 * A fresh {@link RecordingLogger}: pass it as an application's (or a store's) `logger`, then read
 * `lines`, `records` or `errors`. The arrays are live: keep a reference and read it later.
 */
export function recordingLogger(): RecordingLogger {
  const records: LogRecord[] = [];
  const lines: string[] = [];
  const errors: unknown[] = [];
  const record =
    (level: LogRecord['level']) =>
    (message: string, ...context: unknown[]): void => {
      records.push({ level, message, context });
      lines.push(message);
      if (level === 'error') errors.push(...context);
    };
  return {
    records,
    lines,
    errors,
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };
}
