import { spawnSync } from 'node:child_process';

/** The interpreter with Debian's python3-tornado (a pyenv `python3` on PATH may lack it). */
export const PYTHON: string = process.env['PYTHON'] ?? '/usr/bin/python3';

/**
 * Throws, with what to install, unless Tornado 6.2+ is importable from `PYTHON`. Call it in a
 * Tornado interop file's `beforeAll`: a missing Tornado must fail the file, never skip it (CI
 * installs python3-tornado through scripts/system-deps.sh).
 */
export function assertTornado(): void {
  const probe = spawnSync(
    PYTHON,
    ['-c', 'import sys, tornado; sys.exit(0 if tornado.version_info >= (6, 2) else 3)'],
    { encoding: 'utf8' },
  );
  if (probe.error === undefined && probe.status === 0) return;
  const detail =
    probe.error?.message ??
    (probe.status === 3
      ? 'Tornado is older than 6.2'
      : (probe.stderr.trim().split('\n').at(-1) ?? `exit ${probe.status}`));
  throw new Error(
    `The Tornado interop tests need Tornado 6.2+ importable from ${PYTHON} (${detail}). ` +
      "Install Debian's python3-tornado (apt-get install -y python3-tornado; .ci/run does " +
      'this in CI), or set PYTHON to an interpreter that has Tornado.',
  );
}
