import {
  encodeHello,
  type Position,
  parseServerMessage,
  type ResumePoint,
} from '@gale/frame/resume';
import { GapEvent } from './events.js';
import type { Message } from './options.js';

/**
 * The client side of gale.v1 (docs/resume-protocol.md), over the codec of @gale/frame/resume:
 * the position of each topic, for the life of the connection (spec §5), the hello that presents
 * them (§2), and reading each server message of a gale.v1 socket (§3): a direct message goes to
 * the application as it is; a topic message too, unless it is a duplicate; a control only moves
 * the topic's position. Lost messages, as the server says (`gap`) or as the client sees (a
 * message more than one past the last, in the same epoch), are reported to `onGap`.
 */
export class Resumption {
  readonly #positions = new Map<string, Position>();
  readonly #onGap: (event: GapEvent) => void;
  #duplicates = 0;

  constructor(onGap: (event: GapEvent) => void) {
    this.#onGap = onGap;
  }

  /** Topic messages dropped as duplicates: at or before the topic's position, in its epoch. */
  get duplicates(): number {
    return this.#duplicates;
  }

  /** A copy of the position of each topic. */
  positions(): Map<string, Position> {
    return new Map(this.#positions);
  }

  /** The hello: the text of the first message on every gale.v1 socket. */
  hello(): string {
    const points: ResumePoint[] = [];
    for (const [topic, { epoch, offset }] of this.#positions) points.push([topic, epoch, offset]);
    return encodeHello(points);
  }

  /**
   * Reads one message of a gale.v1 socket: what the application receives (the payload, text or
   * binary as the message was), or null for a control or a duplicate. Throws
   * `ResumeProtocolError` for a malformed message (the socket is then closed with 1002).
   */
  receive(message: Message): Message | null {
    const read = parseServerMessage(message);
    switch (read.kind) {
      case 'direct':
        return read.data;
      case 'topic': {
        const { topic, position } = read;
        const known = this.#positions.get(topic);
        if (known !== undefined && known.epoch === position.epoch) {
          if (position.offset <= known.offset) {
            this.#duplicates++;
            return null;
          }
          if (position.offset > known.offset + 1) {
            this.#positions.set(topic, position);
            this.#onGap(
              new GapEvent(topic, known, { epoch: position.epoch, offset: position.offset - 1 }),
            );
            return read.data;
          }
        }
        this.#positions.set(topic, position);
        return read.data;
      }
      case 'control': {
        const control = read.control;
        if (control.type === 'position') {
          this.#positions.set(control.topic, { epoch: control.epoch, offset: control.offset });
        } else {
          this.#positions.set(control.topic, control.to);
          this.#onGap(new GapEvent(control.topic, control.from, control.to));
        }
        return null;
      }
    }
  }
}
