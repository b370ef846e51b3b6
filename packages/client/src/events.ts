// The events a `ClientConnection` dispatches, typed for `addEventListener`.
import type { Position } from '@gale/frame/resume';
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
 * Fired when messages of a topic cannot be delivered (with `resume`, on a gale.v1 connection):
 * the messages of `topic` after `from` up to and including `to` are lost. In one epoch that is
 * offsets `from.offset + 1` … `to.offset`; across epochs, the rest of `from.epoch` and offsets
 * 1 … `to.offset` of `to.epoch`. Every message of the topic after `to` follows, in order. The
 * application should fetch a fresh snapshot of the topic.
 */
export class GapEvent extends Event {
  /** The topic whose messages were lost. */
  readonly topic: string;
  /** The position of the last message of the topic before the gap (not lost). */
  readonly from: Position;
  /** The position of the last lost message: the next one delivered follows it. */
  readonly to: Position;

  constructor(topic: string, from: Position, to: Position) {
    super('gap');
    this.topic = topic;
    this.from = from;
    this.to = to;
  }
}

/**
 * The events a `ClientConnection` dispatches, by type: `statechange`, `reconnecting`, `reconnect`
 * (a plain `Event`, after each reconnection), `drop`, `gap` and `close`.
 */
export interface ClientConnectionEventMap {
  statechange: StateChangeEvent;
  reconnecting: ReconnectingEvent;
  reconnect: Event;
  drop: DropEvent;
  gap: GapEvent;
  close: ConnectionCloseEvent;
}
