// Shared by the integration tests: a topic subscriber that records what it is told.
import type { Position, SubscriptionStart, TopicSubscriber } from '@gale/server/broker';

export type Event =
  | { readonly type: 'started'; readonly start: SubscriptionStart }
  | { readonly type: 'message'; readonly position: Position; readonly message: string | Uint8Array }
  | { readonly type: 'skipped'; readonly position: Position };

/** A subscriber that keeps what it is told, in order, and the frames written to it. */
export interface Recorder extends TopicSubscriber {
  readonly events: Event[];
  readonly frames: Buffer[];
  /** The offsets of the messages it was given. */
  offsets(): number[];
  /** The messages it was given, as text. */
  texts(): string[];
  starts(): SubscriptionStart[];
  /** Where it is: the position of its last message, skip or start. */
  at(): Position | undefined;
}

export function recorder(): Recorder {
  const events: Event[] = [];
  const frames: Buffer[] = [];
  const messages = () =>
    events.filter(
      (event): event is Extract<Event, { type: 'message' }> => event.type === 'message',
    );
  return {
    events,
    frames,
    deliver(message, delivery) {
      frames.push(Buffer.concat(delivery.frame()));
      events.push({ type: 'message', position: delivery.position, message });
    },
    started(_topic, start) {
      events.push({ type: 'started', start });
    },
    skipped(_topic, position) {
      events.push({ type: 'skipped', position });
    },
    offsets: () => messages().map((event) => event.position.offset),
    texts: () => messages().map((event) => String(event.message)),
    starts: () =>
      events
        .filter((event): event is Extract<Event, { type: 'started' }> => event.type === 'started')
        .map((event) => event.start),
    at() {
      const last = events.at(-1);
      if (last === undefined) return undefined;
      return last.type === 'started' ? last.start.position : last.position;
    },
  };
}
