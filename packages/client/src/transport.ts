import type { ConnectionDelegate } from '@gale/io';
import type { ConnectOptions, Message } from './options.js';

/**
 * What a transport calls back into (the connection side of the boundary): @gale/io's one
 * delegate interface, which the server's handlers implement too. The Node build's transport is
 * @gale/io's `Connection`; the browser build's calls the same methods from the native
 * WebSocket's events (it never calls `onPing`/`onPong`: browsers do not report them).
 */
export type TransportHandlers = ConnectionDelegate;

/** One open WebSocket. */
export interface Transport {
  readonly subprotocol: string | null;
  /** Bytes accepted but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /**
   * Sends a message. With `track`, the promise settles when its bytes reach the kernel (or the
   * socket dies) and never counts as unhandled; without, nothing is returned.
   */
  send(data: Message, binary: boolean, track: true): Promise<void>;
  send(data: Message, binary: boolean, track: false): void;
  send(data: Message, binary: boolean, track: boolean): Promise<void> | void;
  /** Sends a Ping (Node only; the browser transport throws). */
  ping(data: Uint8Array): void;
  /** Starts the closing handshake; `closed` follows. */
  close(code: number | undefined, reason: string): void;
  /** Drops the socket at once; `closed` follows with 1006. */
  abort(reason: string): void;
  /** Stops reading from the socket (backpressure); a no-op where reading cannot pause. */
  pause(): void;
  resume(): void;
}

/**
 * Opens one transport. Rejects with a `HandshakeError`, `ConnectionError` or the signal's
 * reason (the caller maps aborts and timeouts); must stop and release everything once `signal`
 * aborts. `handlers` are used only after the promise resolves.
 */
export type Connector = (
  url: URL,
  options: ConnectOptions,
  handlers: TransportHandlers,
  signal: AbortSignal,
) => Promise<Transport>;
