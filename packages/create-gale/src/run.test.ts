import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from './run.js';

let root: string;
let work: string;
let templatesDir: string;
let out: string[];
let err: string[];

/** Writes `files` (path → contents) under `dir`. */
function writeTree(dir: string, files: Record<string, string>): void {
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), contents);
  }
}

function create(argv: string[], userAgent?: string): number {
  return run(argv, {
    templatesDir,
    cwd: work,
    userAgent,
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
  });
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'create-gale-run-'));
  work = root;
  templatesDir = join(work, 'templates');
  out = [];
  err = [];
  // A template as scripts/copy-templates.mjs leaves it (a stray dist/ and test must still not be
  // copied, should one get there).
  writeTree(join(templatesDir, 'echo'), {
    'package.json': JSON.stringify({
      name: 'echo',
      private: true,
      scripts: { dev: 'vite', lint: 'biome check .', test: 'vitest run' },
      dependencies: { '@gale/server': 'workspace:^' },
      devDependencies: { vite: '8.3.8', vitest: '4.1.12' },
    }),
    'server.ts': 'export {};\n',
    'src/echo-app.ts': 'export {};\n',
    'src/echo-app.test.ts': 'export {};\n',
    'dist/server.js': '',
    _gitignore: 'node_modules/\n',
  });
  writeTree(join(templatesDir, 'chat'), { 'package.json': '{}' });
  writeFileSync(join(templatesDir, 'versions.json'), JSON.stringify({ '@gale/server': '1.0.0' }));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('run', () => {
  it('scaffolds the template into a new directory and prints the next steps', () => {
    expect(create(['My App', '--template', 'echo'])).toBe(0);
    const app = join(work, 'My App');
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
    expect(pkg).toEqual({
      name: 'my-app',
      private: true,
      scripts: { dev: 'vite' },
      dependencies: { '@gale/server': '^1.0.0' },
      devDependencies: { vite: '8.3.8' },
    });
    expect(existsSync(join(app, 'server.ts'))).toBe(true);
    expect(existsSync(join(app, 'src/echo-app.ts'))).toBe(true);
    expect(existsSync(join(app, 'src/echo-app.test.ts'))).toBe(false);
    expect(existsSync(join(app, 'dist'))).toBe(false);
    expect(readFileSync(join(app, '.gitignore'), 'utf8')).toBe('node_modules/\n');
    expect(existsSync(join(app, '_gitignore'))).toBe(false);
    expect(out.join('')).toBe(
      "Created My App from the echo template.\n\nNext steps:\n  cd 'My App' && npm install && npm run dev\n",
    );
    expect(err).toEqual([]);
  });

  it('uses an existing empty directory, or one with only .git, and writes a .gitignore', () => {
    rmSync(join(templatesDir, 'echo/_gitignore'));
    mkdirSync(join(work, 'app/.git'), { recursive: true });
    expect(create(['app', '-t', 'echo'])).toBe(0);
    expect(readFileSync(join(work, 'app/.gitignore'), 'utf8')).toBe('node_modules/\ndist/\n');
  });

  it('scaffolds into the current directory without a cd step, for the calling package manager', () => {
    work = join(work, 'here');
    mkdirSync(work);
    expect(create(['.', '--template', 'echo'], 'pnpm/12.21.0 npm/? node/v20.20.2 linux x64')).toBe(
      0,
    );
    expect(JSON.parse(readFileSync(join(work, 'package.json'), 'utf8')).name).toBe('here');
    expect(out.join('')).toContain('Next steps:\n  pnpm install && pnpm dev\n');
  });

  it('refuses a non-empty directory and leaves it untouched', () => {
    writeTree(join(work, 'app'), { 'notes.txt': 'mine' });
    expect(create(['app', '--template', 'echo'])).toBe(1);
    expect(err.join('')).toMatch(/^create-gale: app is not empty \(1 entry\)/);
    expect(err.join('')).toContain('Usage: create-gale <directory> --template <name>');
    expect(existsSync(join(work, 'app/package.json'))).toBe(false);
    expect(out).toEqual([]);
  });

  it('refuses a target that is a file', () => {
    writeTree(work, { app: '' });
    expect(create(['app', '--template', 'echo'])).toBe(1);
    expect(err.join('')).toMatch(/^create-gale: app exists and is not a directory/);
  });

  it('refuses an unknown template, listing the ones it has', () => {
    expect(create(['app', '--template', 'todo'])).toBe(1);
    expect(err.join('')).toMatch(/^create-gale: Unknown template "todo"; one of: chat, echo\n/);
    expect(existsSync(join(work, 'app'))).toBe(false);
  });

  it('refuses a missing directory with exit code 1', () => {
    expect(create(['--template', 'echo'])).toBe(1);
    expect(err.join('')).toMatch(/^create-gale: Missing the target directory/);
  });

  it('prints the usage for --help', () => {
    expect(create(['--help'])).toBe(0);
    expect(out.join('')).toContain('-t, --template <name>  one of: chat, echo');
  });
});
