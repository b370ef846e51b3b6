// `build`, after tsc: copies every app in apps/* into templates/<name>/ (sources only, through the
// same filter the CLI uses) and writes templates/versions.json with the versions of the packages
// being published, which the CLI puts in place of `workspace:` ranges. templates/ is generated
// (git-ignored) and published (package.json `files`). Each app's STARTER.md becomes the template's
// README.md.
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTemplatePath } from '../dist/is-template-path.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const templatesDir = fileURLToPath(new URL('../templates/', import.meta.url));

rmSync(templatesDir, { recursive: true, force: true });

const versions = {};
for (const dir of readdirSync(join(root, 'packages'))) {
  const file = join(root, 'packages', dir, 'package.json');
  if (!existsSync(file)) continue;
  const pkg = JSON.parse(readFileSync(file, 'utf8'));
  // Every package this one publishes beside, except itself: the ones a template may depend on.
  if (!pkg.private && pkg.name !== 'create-gale') versions[pkg.name] = pkg.version;
}

const apps = readdirSync(join(root, 'apps')).filter((name) =>
  existsSync(join(root, 'apps', name, 'package.json')),
);
for (const name of apps) {
  const appDir = join(root, 'apps', name);
  const target = join(templatesDir, name);
  cpSync(appDir, target, {
    recursive: true,
    filter: (source) => isTemplatePath(relative(appDir, source)),
  });
  // The starter's README is the app's STARTER.md, written for the starter (its npm scripts, its
  // files, how to deploy and scale it), not the app's README, which is about the monorepo.
  const starterReadme = join(target, 'STARTER.md');
  if (!existsSync(starterReadme)) {
    throw new Error(`apps/${name}/STARTER.md is missing: it becomes the starter's README.md`);
  }
  renameSync(starterReadme, join(target, 'README.md'));
  // npm never packs a file named .gitignore; the CLI renames it back.
  if (existsSync(join(target, '.gitignore'))) {
    renameSync(join(target, '.gitignore'), join(target, '_gitignore'));
  }
}
writeFileSync(join(templatesDir, 'versions.json'), `${JSON.stringify(versions, null, 2)}\n`);
console.log(`create-gale: templates ${apps.join(', ')}; versions ${JSON.stringify(versions)}`);
