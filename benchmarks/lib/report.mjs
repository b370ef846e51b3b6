// How the harnesses report: figures and ratios formatted alike, markdown tables, the machine and
// ws version in the headline, and every figure as JSON in benchmarks/bench-results/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RESULTS_DIR = fileURLToPath(new URL('../bench-results/', import.meta.url));

/** The version of the ws package the harnesses compare against (the peers load the same one). */
export const wsVersion = /** @type {string} */ (
  createRequire(import.meta.url)('ws/package.json').version
);

/** The CPUs of this machine: how many, and the first one's model. */
export function machine() {
  const list = cpus();
  return { cpus: list.length, cpuModel: list[0]?.model ?? 'unknown CPU' };
}

/** This machine as the headlines say it: `2 × AMD EPYC`. */
export function describeMachine() {
  const { cpus: count, cpuModel } = machine();
  return `${count} × ${cpuModel}`;
}

/**
 * A figure with about three significant digits: 1.23M, 45.6k, 789, 12.3, 1.23; `—` for none.
 *
 * @param {number | undefined} n
 * @returns {string}
 */
export function formatNumber(n) {
  if (n === undefined || Number.isNaN(n)) return '—';
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/**
 * A ratio as the tables print it, `1.23×`; `—` when it is not a finite number (a figure missing,
 * or a division by zero).
 *
 * @param {number} ratio
 * @returns {string}
 */
export function formatRatio(ratio) {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '—';
}

/**
 * A message size: `32 B`, `64 KiB`, `1 MiB`.
 *
 * @param {number} bytes
 * @returns {string}
 */
export function sizeLabel(bytes) {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/**
 * A markdown table: the header, the separator (the first `textColumns` columns left-aligned,
 * the figures right-aligned), then one line per row.
 *
 * @param {readonly string[]} header
 * @param {readonly (readonly string[])[]} rows
 * @param {{ textColumns?: number }} [options]
 * @returns {string}
 */
export function markdownTable(header, rows, { textColumns = 1 } = {}) {
  const line = (/** @type {readonly string[]} */ cells) => `| ${cells.join(' | ')} |`;
  const separator = `|${header.map((_, i) => (i < textColumns ? '---' : '---:')).join('|')}|`;
  return [line(header), separator, ...rows.map(line)].join('\n');
}

/**
 * Writes `data` to benchmarks/bench-results/<name>.json and says where.
 *
 * @param {string} name
 * @param {unknown} data
 */
export function writeResults(name, data) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(data, null, 2)}\n`);
  console.log(`\nJSON: benchmarks/bench-results/${name}.json`);
}
