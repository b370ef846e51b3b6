import type { CloseInfo, ConnectOptions, Message } from './options.js';

/**
 * What a transport calls back into (the connection side of the boundary). Internal: the Node
 * build implements transports over @gale/frame, the browser build over the native WebSocket.
 */
export interface TransportHandlers {
  /** A complete message. */
  message(data: Message): void;
  /** A Pong arrived (Node). */
  pong?(data: Uint8Array): void;
  /** The socket is gone, however it ended. Called exactly once, after every message. */
  closed(info: CloseInfo): void;
}

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
