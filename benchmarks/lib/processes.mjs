// What the harnesses do with processes: read a process's CPU time from /proc, and pin a process
// to one CPU with taskset(1).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

// Linux reports /proc/<pid>/stat CPU times in clock ticks of 1/100 s (sysconf(_SC_CLK_TCK)).
const CLOCK_TICKS_PER_SEC = 100;

/**
 * The CPU time (user + system) a process has used so far, in seconds; NaN where
 * /proc/<pid>/stat does not exist (not Linux, or the process is gone).
 *
 * @param {number} pid
 * @returns {number}
 */
export function cpuSeconds(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return Number.NaN;
  }
  // The fields after "(comm)", which may hold spaces, start at field 3 (state); utime and stime
  // are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SEC;
}

/**
 * Whether processes can be pinned to CPUs here: two cores or more, and taskset(1) at hand.
 *
 * @returns {boolean}
 */
export function canPin() {
  return (
    cpus().length >= 2 &&
    spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }).status === 0
  );
}

/**
 * The command line `argv`, run on CPU `cpu` through taskset; `argv` itself when `cpu` is
 * undefined (placement left to the scheduler).
 *
 * @param {number | undefined} cpu
 * @param {string[]} argv
 * @returns {[string, ...string[]]}
 */
export function pinned(cpu, argv) {
  const [command, ...args] = cpu === undefined ? argv : ['taskset', '-c', String(cpu), ...argv];
  if (command === undefined) throw new Error('pinned: empty command line');
  return [command, ...args];
}
