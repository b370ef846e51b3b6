import { type Control, parseHello } from '@gale/frame/resume';
import type { Position, SubscriptionStart } from './topics.js';

/**
 * What a gale.v1 connection remembers of its resumption (docs/resume-protocol.md §2–3), the same
 * on every runtime (`WebSocketConnection` on Node, `BunConnection` on Bun): the positions the
 * client's hello presented, each taken once by the first subscription to its topic, and the
 * topics whose subscription resumed. Both are made on first use: most connections resume nothing.
 */
export class ResumePoints {
  #points: Map<string, Position> | undefined = undefined;
  #resumed: Set<string> | undefined = undefined;

  /** Reads the client's hello, its first message. Throws if it is not a valid hello. */
  readHello(message: string | Uint8Array): void {
    const { resume } = parseHello(message);
    if (resume.length > 0) {
      this.#points = new Map(resume.map(([topic, epoch, offset]) => [topic, { epoch, offset }]));
    }
  }

  /** The position the hello presented for `topic`, if any; taken once (a later one starts fresh). */
  take(topic: string): Position | undefined {
    const point = this.#points?.get(topic);
    if (point !== undefined) this.#points!.delete(topic);
    return point;
  }

  /** Whether the subscription to `topic` started with status 'resumed'. */
  isResumed(topic: string): boolean {
    return this.#resumed?.has(topic) ?? false;
  }

  /** The subscription to `topic` ended. */
  forget(topic: string): void {
    this.#resumed?.delete(topic);
  }

  /** Notes how the subscription to `topic` started; returns the control that tells the client. */
  started(topic: string, start: SubscriptionStart): Control {
    if (start.status === 'resumed') {
      this.#resumed ??= new Set();
      this.#resumed.add(topic);
    } else this.#resumed?.delete(topic);
    const { position } = start;
    return start.status === 'gap'
      ? { type: 'gap', topic, from: start.from, to: position }
      : positionControl(topic, position);
  }
}

/** The control that moves the client's position on `topic` (also for what it published itself). */
export function positionControl(topic: string, position: Position): Control {
  return { type: 'position', topic, epoch: position.epoch, offset: position.offset };
}
