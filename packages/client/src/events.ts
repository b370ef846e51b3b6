// The events a `ClientConnection` dispatches, typed for `addEventListener`.
import type { MessageDroppedError } from './errors.js';
import type { CloseInfo, ConnectionState } from './options.js';

/** Fired on every change of `connection.state`. */
export class StateChangeEvent extends Event {
  readonly state: ConnectionState;

  constructor(state: ConnectionState) {
    super('statechange');
    this.state = state;
  }
}

/** Fired when a retry is scheduled: `attempt` (0-based) starts after `delay` ms. */
export class ReconnectingEvent extends Event {
  readonly attempt: number;
  readonly delay: number;
  /** How the previous socket (or attempt) ended. */
  readonly info: CloseInfo;

  constructor(attempt: number, delay: number, info: CloseInfo) {
    super('reconnecting');
    this.attempt = attempt;
    this.delay = delay;
    this.info = info;
  }
}

/** Fired for each message that was written but will never be sent (see `MessageDroppedError`). */
export class DropEvent extends Event {
  readonly error: MessageDroppedError;

  constructor(error: MessageDroppedError) {
    super('drop');
    this.error = error;
  }
}

/** Fired once, when the connection is closed for good. */
export class ConnectionCloseEvent extends Event {
  readonly info: CloseInfo;

  constructor(info: CloseInfo) {
    super('close');
    this.info = info;
  }
}

/**
 * The events a `ClientConnection` dispatches, by type: `statechange`, `reconnecting`, `reconnect`
 * (a plain `Event`, after each reconnection), `drop` and `close`.
 */
export interface ClientConnectionEventMap {
  statechange: StateChangeEvent;
  reconnecting: ReconnectingEvent;
  reconnect: Event;
  drop: DropEvent;
  close: ConnectionCloseEvent;
}
