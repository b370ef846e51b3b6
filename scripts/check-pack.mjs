// Packs the package in the current directory exactly as it would be published (pnpm applies
// publishConfig), then checks the tarball with publint and @arethetypeswrong/cli. Run from a
// package directory after its build; `pnpm lint` does.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
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
  run('pnpm', ['exec', 'publint', '--strict', join(out, 'package')]);
  // ESM-only by design (Node 20.19+ can require() ESM): the CommonJS-from-ESM rule does not apply.
  run('pnpm', ['exec', 'attw', tarball, '--profile', 'esm-only']);
} finally {
  rmSync(out, { recursive: true, force: true });
}
