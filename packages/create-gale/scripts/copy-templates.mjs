// `build`, after tsc: copies every app in apps/* into templates/<name>/ (sources only, through the
// same filter the CLI uses) and writes templates/versions.json with the versions of the packages
// being published, which the CLI puts in place of `workspace:` ranges. templates/ is generated
// (git-ignored) and published (package.json `files`).
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
  // npm never packs a file named .gitignore; the CLI renames it back.
  if (existsSync(join(target, '.gitignore'))) {
    renameSync(join(target, '.gitignore'), join(target, '_gitignore'));
  }
}
writeFileSync(join(templatesDir, 'versions.json'), `${JSON.stringify(versions, null, 2)}\n`);
console.log(`create-gale: templates ${apps.join(', ')}; versions ${JSON.stringify(versions)}`);
