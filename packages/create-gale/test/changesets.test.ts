import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { TEST_ONLY_DEV_DEPENDENCIES } from '../src/rewrite-package-json.js';

// create-gale writes the versions of the @gale/* packages its starters depend on into every
// starter (templates/versions.json, made at build time), so it must be released whenever one of
// them is. Changesets does not do that by itself: create-gale's dependencies on them are
// devDependencies, whose bumps release no dependent; a `fixed` group would release every package
// whenever any one changes (a patch to @gale/frame alone would republish all six, which the
// release rehearsal proves does not happen), and a `linked` group only aligns the versions of
// packages that are released anyway. So this test is the mechanism: the pending changesets that
// release a package a starter depends on must release create-gale too (a patch is enough).

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const changesetDir = join(repoRoot, '.changeset');

/** The package names a changeset's front matter releases. */
function released(markdown: string): string[] {
  const front = /^---\n([\s\S]*?)\n---/.exec(markdown)?.[1] ?? '';
  return [...front.matchAll(/^\s*["']?([^"':\s]+)["']?\s*:\s*(major|minor|patch)\s*$/gm)].map(
    (match) => match[1]!,
  );
}

/** The workspace packages the starters depend on: what create-gale writes a version for. */
function writtenByStarters(): string[] {
  const names = new Set<string>();
  for (const app of readdirSync(join(repoRoot, 'apps'))) {
    const file = join(repoRoot, 'apps', app, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    for (const field of ['dependencies', 'devDependencies']) {
      for (const [dep, spec] of Object.entries<string>(pkg[field] ?? {})) {
        if (spec.startsWith('workspace:') && !TEST_ONLY_DEV_DEPENDENCIES.includes(dep)) {
          names.add(dep);
        }
      }
    }
  }
  return [...names].sort();
}

it('reads the packages a changeset releases', () => {
  expect(
    released('---\n"@gale/frame": patch\n\'create-gale\': minor\n---\n\nText: major\n'),
  ).toEqual(['@gale/frame', 'create-gale']);
  expect(writtenByStarters()).toEqual(expect.arrayContaining(['@gale/client', '@gale/server']));
  expect(writtenByStarters()).not.toContain('@gale/test-utils');
});

it('releases create-gale whenever it releases a package the starters depend on', () => {
  const pending = readdirSync(changesetDir)
    .filter((file) => file.endsWith('.md') && file !== 'README.md')
    .flatMap((file) => released(readFileSync(join(changesetDir, file), 'utf8')));
  const starters = writtenByStarters().filter((name) => pending.includes(name));
  if (starters.length > 0) {
    expect(
      pending,
      `the pending changesets release ${starters.join(', ')}, whose versions the starters get: ` +
        'add a changeset for create-gale (`pnpm changeset`, create-gale: patch)',
    ).toContain('create-gale');
  }
});
