// Preloaded into a server that a memory harness measures, never imported by a harness:
//
//   node --expose-gc --import <this file> peers/gale-echo.mjs 0     (lib/memory.mjs does it)
//
// It answers the harness over the IPC channel that spawned the server, so that a reading is taken
// inside the server at a known moment: `{ id, gc, waitMs }` gets `{ id, rightAfterGc, reading }`,
// where `reading` is taken `waitMs` after two full collections (`gc: true`; `rightAfterGc` is the
// reading straight after them) or at once (`gc: false`). It adds nothing else to the server: no
// timer between requests, no handle beyond the channel, and it reads only /proc/self and V8's
// statistics.

import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

/**
 * A `Field: <n> kB` line of a /proc file, in bytes; null when the file has no such field.
 *
 * @param {string} text
 * @param {string} field
 */
function kibField(text, field) {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) * 1024 : null;
}

/** The process's memory as lib/memory.mjs's MemoryReading describes it, in bytes. */
function readMemory() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  /** @type {Record<string, number>} */
  const heapSpaces = {};
  for (const space of v8.getHeapSpaceStatistics()) {
    heapSpaces[space.space_name] = space.physical_space_size;
  }
  return {
    vmRss: kibField(status, 'VmRSS') ?? rss,
    rssAnon: kibField(status, 'RssAnon'),
    rssFile: kibField(status, 'RssFile'),
    heapTotal,
    heapUsed,
    external,
    arrayBuffers,
    youngGeneration: (heapSpaces['new_space'] ?? 0) + (heapSpaces['new_large_object_space'] ?? 0),
    heapSpaces,
    sockets: process.getActiveResourcesInfo().filter((type) => type === 'TCPSocketWrap').length,
  };
}

/** Two full collections: the second one frees what the first one's finalizers released. */
function collect() {
  const gc = /** @type {(() => void) | undefined} */ (globalThis.gc);
  if (gc === undefined) throw new Error('the server runs without --expose-gc');
  gc();
  gc();
}

const send = process.send?.bind(process);
if (send !== undefined) {
  process.on('message', (/** @type {any} */ message) => {
    if (message?.type !== 'gale-memory-probe') return;
    const { id, gc = false, waitMs = 0 } = message;
    try {
      if (!gc) {
        send({ id, reading: readMemory() });
        return;
      }
      collect();
      const rightAfterGc = readMemory();
      // V8 hands freed pages back to the system on background threads after a collection: a
      // reading taken at once can be several MiB too high.
      setTimeout(() => send({ id, rightAfterGc, reading: readMemory() }), waitMs);
    } catch (error) {
      send({ id, error: /** @type {Error} */ (error).message });
    }
  });
}
