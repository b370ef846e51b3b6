// gale.v1, Gale's resume subprotocol: the wire format both ends share (exported alone as
// @gale/frame/resume; browser-safe). The specification is docs/resume-protocol.md.

/** The subprotocol a gale client offers, and a server that can resume topics selects. */
export const RESUME_SUBPROTOCOL = 'gale.v1';

/** Joins gale.v1 with an application's own subprotocol: `gale.v1+chat`. */
const JOINER = '+';

/**
 * Where a message is in its topic's history: the `epoch` names one unbroken history of the topic
 * (it changes whenever that history may have been lost), the `offset` counts its messages from 1.
 * Offset 0 is "before the first message".
 */
export interface Position {
  readonly epoch: string;
  readonly offset: number;
}

/** A position a client presents in its hello, for one topic. */
export type ResumePoint = readonly [topic: string, epoch: string, offset: number];

/** What a gale client sends first, on every connection: the last position of each topic it holds. */
export interface Hello {
  readonly resume: readonly ResumePoint[];
}

/**
 * The server says the client is now at `position` on `topic`: every later message of the topic
 * follows, in order. Sent when a subscription starts without a gap, and in place of a message the
 * client was excluded from (it sent it).
 */
export interface PositionControl {
  readonly type: 'position';
  readonly topic: string;
  readonly epoch: string;
  readonly offset: number;
}

/**
 * The messages of `topic` after `from` up to and including `to` cannot be delivered. In one epoch
 * that is offsets `from.offset + 1` … `to.offset`; across epochs, the rest of `from.epoch` and
 * offsets 1 … `to.offset` of `to.epoch`. Every message after `to` follows, in order.
 */
export interface GapControl {
  readonly type: 'gap';
  readonly topic: string;
  readonly from: Position;
  readonly to: Position;
}

export type Control = PositionControl | GapControl;

/** One server → client message of a gale.v1 connection, as the client reads it. */
export type ServerMessage<T> =
  | { readonly kind: 'direct'; readonly data: T }
  | {
      readonly kind: 'topic';
      readonly topic: string;
      readonly position: Position;
      readonly data: T;
    }
  | { readonly kind: 'control'; readonly control: Control };

/** A malformed gale.v1 message (the receiver closes with 1002). */
export class ResumeProtocolError extends Error {
  override readonly name = 'ResumeProtocolError';
}

const NEWLINE = 0x0a;
const encoder = new TextEncoder();
// ignoreBOM: a BOM stays in the header (and fails JSON.parse), as it does in a text message.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---- subprotocol negotiation -------------------------------------------------------------------

/**
 * The `Sec-WebSocket-Protocol` offer of a gale client whose application offers `appProtocols`:
 * each app protocol joined with gale.v1 (in the app's order), then gale.v1 alone, then the app
 * protocols alone (for servers that do not speak gale.v1).
 */
export function offerSubprotocols(appProtocols: readonly string[]): string[] {
  return [
    ...appProtocols.map((name) => RESUME_SUBPROTOCOL + JOINER + name),
    RESUME_SUBPROTOCOL,
    ...appProtocols,
  ];
}

/**
 * Splits a client's offer: whether it offers gale.v1, and the application's own subprotocols (in
 * its order, each once) for the application to choose from. `gale.v1+` with nothing after it
 * names no subprotocol and is ignored.
 */
export function splitOffer(offered: readonly string[]): {
  readonly resume: boolean;
  readonly appProtocols: string[];
} {
  let resume = false;
  const appProtocols: string[] = [];
  const prefix = RESUME_SUBPROTOCOL + JOINER;
  for (const name of offered) {
    if (name === RESUME_SUBPROTOCOL) resume = true;
    else if (name.startsWith(prefix)) {
      if (name.length === prefix.length) continue;
      resume = true;
      const app = name.slice(prefix.length);
      if (!appProtocols.includes(app)) appProtocols.push(app);
    } else if (!appProtocols.includes(name)) appProtocols.push(name);
  }
  return { resume, appProtocols };
}

/** What a server that speaks gale.v1 selects, given the application's choice (or null). */
export function selectSubprotocol(appProtocol: string | null): string {
  return appProtocol === null ? RESUME_SUBPROTOCOL : RESUME_SUBPROTOCOL + JOINER + appProtocol;
}

/**
 * Reads what the server selected: whether gale.v1 is on, and the application's subprotocol.
 */
export function parseSelected(selected: string | null): {
  readonly resume: boolean;
  readonly appProtocol: string | null;
} {
  if (selected === RESUME_SUBPROTOCOL) return { resume: true, appProtocol: null };
  const prefix = RESUME_SUBPROTOCOL + JOINER;
  if (selected?.startsWith(prefix)) {
    return { resume: true, appProtocol: selected.slice(prefix.length) };
  }
  return { resume: false, appProtocol: selected };
}

// ---- client → server ---------------------------------------------------------------------------

/** The hello, as the text of the client's first message. */
export function encodeHello(points: Iterable<ResumePoint>): string {
  return JSON.stringify({ resume: [...points] });
}

/** Reads a hello; throws `ResumeProtocolError` unless it is one. */
export function parseHello(message: string | Uint8Array): Hello {
  if (typeof message !== 'string') throw new ResumeProtocolError('the hello must be text');
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    throw new ResumeProtocolError('the hello is not JSON');
  }
  const resume = (value as { resume?: unknown } | null)?.resume;
  if (!Array.isArray(resume)) throw new ResumeProtocolError('the hello has no resume list');
  const seen = new Set<string>();
  for (const point of resume) {
    if (
      !Array.isArray(point) ||
      point.length !== 3 ||
      typeof point[0] !== 'string' ||
      !isEpoch(point[1]) ||
      !isOffset(point[2])
    ) {
      throw new ResumeProtocolError('a resume point must be [topic, epoch, offset]');
    }
    if (seen.has(point[0])) throw new ResumeProtocolError('a topic appears twice in the hello');
    seen.add(point[0]);
  }
  return { resume: resume as ResumePoint[] };
}

// ---- server → client ---------------------------------------------------------------------------

/**
 * A topic message in its envelope: text stays text (`[topic,epoch,offset]\n` before it), bytes
 * stay binary (the same header as UTF-8 before them).
 */
export function encodeTopicMessage(
  topic: string,
  position: Position,
  message: string | Uint8Array,
): string | Uint8Array {
  const header = JSON.stringify([topic, position.epoch, position.offset]);
  if (typeof message === 'string') return `${header}\n${message}`;
  return prefixBytes(header, message);
}

/** A message the application wrote directly (not a topic's): an empty header line before it. */
export function encodeDirectMessage(message: string | Uint8Array): string | Uint8Array {
  if (typeof message === 'string') return `\n${message}`;
  const out = new Uint8Array(message.length + 1);
  out[0] = NEWLINE;
  out.set(message, 1);
  return out;
}

/** A control message (always text, with nothing after its header line). */
export function encodeControl(control: Control): string {
  return `${JSON.stringify(control)}\n`;
}

/** Reads one server → client message; throws `ResumeProtocolError` if it is malformed. */
export function parseServerMessage<T extends string | Uint8Array>(message: T): ServerMessage<T> {
  let header: string;
  let data: T;
  if (typeof message === 'string') {
    const end = message.indexOf('\n');
    if (end === -1) throw new ResumeProtocolError('a gale.v1 message has no header line');
    if (end === 0) return { kind: 'direct', data: message.slice(1) as T };
    header = message.slice(0, end);
    data = message.slice(end + 1) as T;
  } else {
    const bytes = message as Uint8Array;
    const end = bytes.indexOf(NEWLINE);
    if (end === -1) throw new ResumeProtocolError('a gale.v1 message has no header line');
    if (end === 0) return { kind: 'direct', data: bytes.subarray(1) as T };
    try {
      header = decoder.decode(bytes.subarray(0, end));
    } catch {
      throw new ResumeProtocolError('a gale.v1 header is not UTF-8');
    }
    data = bytes.subarray(end + 1) as T;
  }
  let value: unknown;
  try {
    value = JSON.parse(header);
  } catch {
    throw new ResumeProtocolError('a gale.v1 header is not JSON');
  }
  if (Array.isArray(value)) {
    const [topic, epoch, offset] = value as unknown[];
    if (value.length !== 3 || typeof topic !== 'string' || !isEpoch(epoch) || !isOffset(offset)) {
      throw new ResumeProtocolError('a topic header must be [topic, epoch, offset]');
    }
    if (offset === 0) throw new ResumeProtocolError('a topic message has an offset of 1 or more');
    return { kind: 'topic', topic, position: { epoch, offset }, data };
  }
  if (typeof message !== 'string' || (data as string).length > 0) {
    throw new ResumeProtocolError('a control message is text with nothing after its header');
  }
  return { kind: 'control', control: parseControl(value) };
}

function parseControl(value: unknown): Control {
  const control = value as {
    type?: unknown;
    topic?: unknown;
    epoch?: unknown;
    offset?: unknown;
    from?: unknown;
    to?: unknown;
  } | null;
  if (control !== null && typeof control === 'object' && typeof control.topic === 'string') {
    if (control.type === 'position' && isEpoch(control.epoch) && isOffset(control.offset)) {
      return {
        type: 'position',
        topic: control.topic,
        epoch: control.epoch,
        offset: control.offset,
      };
    }
    if (control.type === 'gap' && isPosition(control.from) && isPosition(control.to)) {
      return {
        type: 'gap',
        topic: control.topic,
        from: { epoch: control.from.epoch, offset: control.from.offset },
        to: { epoch: control.to.epoch, offset: control.to.offset },
      };
    }
  }
  throw new ResumeProtocolError('unknown gale.v1 control');
}

function isPosition(value: unknown): value is Position {
  const position = value as { epoch?: unknown; offset?: unknown } | null;
  return (
    position !== null &&
    typeof position === 'object' &&
    isEpoch(position.epoch) &&
    isOffset(position.offset)
  );
}

function isEpoch(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 64;
}

function isOffset(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function prefixBytes(header: string, message: Uint8Array): Uint8Array {
  const head = encoder.encode(header);
  const out = new Uint8Array(head.length + 1 + message.length);
  out.set(head, 0);
  out[head.length] = NEWLINE;
  out.set(message, head.length + 1);
  return out;
}
