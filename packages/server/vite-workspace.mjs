// `@gale/server/vite` inside the Gale repository; the published package points at dist/vite.js
// (publishConfig) and has no such file. An app's vite.config.ts imports it first, so `pnpm dev` in
// an app's folder of a fresh clone meets the unbuilt packages here: it builds the packages the app
// imports (turbo, cached: instant when nothing changed), or says in one line what to run. Under the
// root `pnpm dev`, turbo has built them already.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('./dist/vite.js', import.meta.url);
if (!existsSync(built)) {
  let filter = '@gale/server...';
  try {
    const app = JSON.parse(readFileSync('package.json', 'utf8')).name;
    if (typeof app === 'string' && app !== '@gale/server') filter = `${app}^...`;
  } catch {
    // Not started from a package's folder: build @gale/server and what it imports.
  }
  try {
    execFileSync(
      'pnpm',
      ['exec', 'turbo', 'run', 'build', `--filter=${filter}`, '--output-logs=errors-only'],
      { cwd: fileURLToPath(new URL('../../', import.meta.url)), stdio: 'inherit' },
    );
  } catch {
    console.error(
      'gale: the workspace packages are not built, and building them failed (above): run `pnpm install && pnpm build` at the repository root.',
    );
    process.exit(1);
  }
}

export const { gale } = await import(built.href);
