// Packs the package in the current directory exactly as it would be published (pnpm applies
// publishConfig), then checks the tarball with publint and @arethetypeswrong/cli. Run from a
// package directory after its build; `pnpm lint` does.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const out = mkdtempSync(join(tmpdir(), 'gale-pack-'));
const run = (cmd, args, cwd = process.cwd()) => execFileSync(cmd, args, { cwd, stdio: 'inherit' });
try {
  run('pnpm', ['pack', '--pack-destination', out]);
  const tarball = join(
    out,
    readdirSync(out).find((f) => f.endsWith('.tgz')),
  );
  run('tar', ['-xzf', tarball, '-C', out]);
  if (!existsSync(join(out, 'package', 'LICENSE'))) {
    throw new Error(
      'the tarball has no LICENSE (pnpm packs the root one when the package has none)',
    );
  }
  run('pnpm', ['exec', 'publint', '--strict', join(out, 'package')]);
  // ESM-only by design (Node 20.19+ can require() ESM): the CommonJS-from-ESM rule does not apply.
  // Its table lists the resolutions that profile ignores (node10, CommonJS) with a 💀 next to
  // "(ignored)", which reads like a failure: print the table only when attw finds a problem.
  try {
    execFileSync('pnpm', ['exec', 'attw', tarball, '--profile', 'esm-only', '--no-emoji'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    console.log('attw (esm-only profile): no problems found');
  } catch (error) {
    process.stdout.write(error.stdout ?? '');
    process.stderr.write(error.stderr ?? '');
    throw error;
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
