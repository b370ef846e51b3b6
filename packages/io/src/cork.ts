import type { Writable } from 'node:stream';

// Marks a stream corked by corkUntilImmediate in this turn: a flag on the stream, where a Set
// of them would be rebuilt (and rehashed as it grows) every turn on a busy server.
const kCorked = Symbol('gale.corkedUntilImmediate');
type Corkable = Writable & { [kCorked]?: boolean };

// Streams corked in this turn of the event loop, uncorked together by one setImmediate; the
// other array is the one being uncorked (kept, emptied, for the next turn).
let corked: Corkable[] = [];
let spare: Corkable[] = [];

/**
 * Corks `stream` until the event loop's check phase (`setImmediate`), once per turn however often
 * it is called: write a protocol's `dataToSend()` chunks right after it. Everything written to
 * the stream in one turn then leaves in one `writev`, and every stream corked in the turn is
 * uncorked together, after all the reads of that turn's poll (on a busy server, the replies to
 * every readable socket leave together). A write made while uncorking waits for the next turn.
 */
export function corkUntilImmediate(stream: Writable): void {
  const s = stream as Corkable;
  if (s[kCorked] === true) return;
  if (corked.length === 0) setImmediate(uncorkAll);
  s[kCorked] = true;
  corked.push(s);
  stream.cork();
}

function uncorkAll(): void {
  const streams = corked;
  corked = spare;
  for (let i = 0; i < streams.length; i++) {
    const stream = streams[i]!;
    stream[kCorked] = false;
    stream.uncork();
  }
  streams.length = 0;
  spare = streams;
}

// The current turn, for the 'burst' write policy (see Connection): it ends when the microtasks queued by its
// first write run, one promise reaction shared by every socket (queueMicrotask would create an
// AsyncResource per call).
let turn = 0;
let isTurnEnding = false;
const RESOLVED = Promise.resolve();
function endTurn(): void {
  turn++;
  isTurnEnding = false;
}

/**
 * A number that identifies the current turn of the event loop (more precisely: everything up to
 * the next microtask checkpoint). Two writes that get the same number are part of one burst.
 */
export function currentTurn(): number {
  if (!isTurnEnding) {
    isTurnEnding = true;
    void RESOLVED.then(endTurn);
  }
  return turn;
}
