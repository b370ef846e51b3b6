import type { Duplex } from 'node:stream';
import type { Protocol } from '@gale/frame';
import {
  type CloseInfo,
  Connection,
  type ConnectionDelegate,
  type ConnectionSettings,
} from '@gale/io';
import type { ResolvedSettings } from './settings.js';
import type { Delivery, TopicSubscriber } from './topics.js';

/** What every connection of an application shares: settings and the application's callbacks. */
export interface ConnectionHost<D extends ConnectionDelegate = ConnectionDelegate> {
  readonly settings: ResolvedSettings;
  /** The I/O layer's settings, derived once from `settings` (milliseconds, the clock). */
  readonly connectionSettings: ConnectionSettings;
  /** The connection is gone, however it ended. Called exactly once, after every queued message. */
  connectionClosed(delegate: D, info: CloseInfo): void;
  /** A delegate method threw or rejected: log it; the connection fails with 1011. */
  logException(delegate: D, error: unknown, where: string): void;
}

/**
 * A server WebSocket: @gale/io's `Connection` with Tornado's rules. A missing Pong closes with
 * 1000 "ping timed out" (Tornado 6.5); a handler exception is logged through the application
 * and fails the connection with 1011; a slow consumer is logged; the application learns of the
 * end before the handler's `onClose`. The server closes TCP first (RFC 6455 §7.1.1), as the
 * I/O layer does for every server protocol. Handlers never see it; `WebSocketHandler` drives it.
 */
export class WebSocketConnection<D extends ConnectionDelegate = ConnectionDelegate>
  extends Connection<D>
  implements TopicSubscriber
{
  readonly #host: ConnectionHost<D>;

  constructor(socket: Duplex, protocol: Protocol, delegate: D, host: ConnectionHost<D>) {
    super(socket, protocol, delegate, host.connectionSettings);
    this.#host = host;
  }

  /** A topic's message, as a socket subscriber: the framed bytes every subscriber shares. */
  deliver(_message: string | Uint8Array, delivery: Delivery): void {
    this.sendFrames(delivery.frame());
  }

  /** A handler callback outside the message loop threw (a topic listener): as `onMessage` would. */
  handlerFailed(error: unknown, where: string): void {
    this.delegateFailed(error, where);
  }

  protected override pingTimedOut(): void {
    this.close(1000, 'ping timed out');
  }

  protected override delegateFailed(error: unknown, where: string): void {
    this.#host.logException(this.delegate, error, where);
    super.delegateFailed(error, where);
  }

  protected override closed(info: CloseInfo): void {
    try {
      this.#host.connectionClosed(this.delegate, info);
    } catch (error) {
      this.#host.logException(this.delegate, error, 'onClose');
    }
  }

  protected override slowConsumer(reason: string): void {
    this.#host.settings.logger.warn(`closing a slow consumer: ${reason}`);
  }
}
