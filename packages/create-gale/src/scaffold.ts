import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { CreateGaleError } from './errors.js';
import { isTemplatePath } from './is-template-path.js';
import { type PackageJson, rewritePackageJson } from './rewrite-package-json.js';
import { toPackageName } from './to-package-name.js';

/** What `scaffold()` copies, and where. */
export interface ScaffoldOptions {
  /** The folder holding one folder per template and `versions.json` (the package's `templates/`). */
  readonly templatesDir: string;
  /** A template name from `listTemplates(templatesDir)`. */
  readonly template: string;
  /** The project directory: created if missing, refused unless empty. */
  readonly targetDir: string;
  /** What a relative `targetDir` is relative to; default `process.cwd()`. */
  readonly cwd?: string;
}

/** The scaffolded project. */
export interface ScaffoldResult {
  /** Its package.json `name`. */
  readonly name: string;
  /** Its absolute path. */
  readonly targetDir: string;
}

/**
 * Copies a template into `targetDir` and rewrites its package.json for use outside the monorepo
 * (see `rewritePackageJson`). Checks everything before writing anything; throws `CreateGaleError`
 * when `targetDir` is a file or a non-empty directory, or its name makes no npm package name.
 * Then `npm install && npm run dev` in `targetDir` runs the app.
 */
export function scaffold(options: ScaffoldOptions): ScaffoldResult {
  const targetDir = resolve(options.cwd ?? process.cwd(), options.targetDir);
  const templateDir = join(options.templatesDir, options.template);
  assertUsableTarget(options.targetDir, targetDir);
  const name = toPackageName(basename(targetDir));
  const versions = JSON.parse(
    readFileSync(join(options.templatesDir, 'versions.json'), 'utf8'),
  ) as Record<string, string>;
  const pkg = JSON.parse(readFileSync(join(templateDir, 'package.json'), 'utf8')) as PackageJson;
  // Rewritten before copying, so that a template it rejects leaves no half-made project behind.
  const rewritten = rewritePackageJson(pkg, name, versions);

  mkdirSync(targetDir, { recursive: true });
  cpSync(templateDir, targetDir, {
    recursive: true,
    filter: (source) => isTemplatePath(relative(templateDir, source)),
  });
  writeFileSync(join(targetDir, 'package.json'), `${JSON.stringify(rewritten, null, 2)}\n`);
  // npm never packs a file named .gitignore, so templates carry it as _gitignore.
  const gitignore = join(targetDir, '.gitignore');
  if (existsSync(join(targetDir, '_gitignore'))) {
    renameSync(join(targetDir, '_gitignore'), gitignore);
  } else if (!existsSync(gitignore)) {
    writeFileSync(gitignore, 'node_modules/\ndist/\n');
  }
  return { name, targetDir };
}

/**
 * The templates in `templatesDir`: its folders that hold a package.json, sorted by name. Empty
 * when the folder is missing (a create-gale that was never built).
 */
export function listTemplates(templatesDir: string): string[] {
  if (!existsSync(templatesDir)) return [];
  return readdirSync(templatesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .filter((name) => existsSync(join(templatesDir, name, 'package.json')))
    .sort();
}

function assertUsableTarget(given: string, targetDir: string): void {
  if (!existsSync(targetDir)) return;
  if (!statSync(targetDir).isDirectory()) {
    throw new CreateGaleError('ERR_NOT_A_DIRECTORY', `${given} exists and is not a directory.`);
  }
  // A fresh `git init` is as good as empty.
  const entries = readdirSync(targetDir).filter((entry) => entry !== '.git');
  if (entries.length > 0) {
    throw new CreateGaleError(
      'ERR_DIR_NOT_EMPTY',
      `${given} is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}); ` +
        'choose a new directory or empty this one.',
    );
  }
}
