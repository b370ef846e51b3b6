import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { corkUntilImmediate } from './cork.js';

// A stream that records each low-level write: a single chunk (_write) or a batch (_writev).
function recorder(): { stream: Writable; writes: string[][] } {
  const writes: string[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writes.push([chunk.toString()]);
      callback();
    },
    writev(chunks, callback) {
      writes.push(chunks.map(({ chunk }) => (chunk as Buffer).toString()));
      callback();
    },
  });
  return { stream, writes };
}

describe('corkUntilImmediate', () => {
  it('holds every write of one turn until setImmediate, then writes them in one batch', async () => {
    const a = recorder();
    const b = recorder();
    for (const text of ['1', '2', '3']) {
      corkUntilImmediate(a.stream);
      a.stream.write(text);
    }
    corkUntilImmediate(b.stream);
    b.stream.write('x');
    await Promise.resolve(); // microtasks and ticks are not enough
    await new Promise((resolve) => process.nextTick(resolve));
    expect(a.writes).toEqual([]);
    expect(b.writes).toEqual([]);
    await nextTurn();
    expect(a.writes).toEqual([['1', '2', '3']]);
    expect(b.writes).toEqual([['x']]);
    expect(a.stream.writableCorked).toBe(0);
  });

  it('does not lose a write made while uncorking: it leaves in the next turn', async () => {
    const { stream, writes } = recorder();
    // A stream whose low-level write writes to `stream`, as a proxy would: it runs while the
    // streams corked in this turn are being uncorked.
    const proxy = new Writable({
      write(_chunk, _encoding, callback) {
        corkUntilImmediate(stream);
        stream.write('relayed');
        callback();
      },
    });
    corkUntilImmediate(proxy);
    proxy.write('go');
    await nextTurn();
    expect(writes).toEqual([]);
    expect(stream.writableCorked).toBe(1);
    await nextTurn();
    expect(writes).toEqual([['relayed']]);
    expect(stream.writableCorked).toBe(0);
  });
});
