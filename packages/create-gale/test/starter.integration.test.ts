import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { command, STARTERS, type StartedServer, startServer } from './support/starters.mjs';

// The starters as a user gets them: the packages packed exactly as they would be published, the
// packed create-gale run to scaffold each template into a directory outside the workspace, then
// `npm install` (the @gale/* packages from the tarballs, everything else from the registry),
// `npm run build`, `npm run typecheck` and `npm start`, checked over HTTP and WebSocket with
// @gale/client's Node build. Needs `pnpm build` first (turbo runs it before `test`) and the
// npm registry.

const packageDir = fileURLToPath(new URL('../', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = ['frame', 'io', 'server', 'client', 'redis'] as const;

// Exactly the templates create-gale ships (the first test fails if one is missing or extra), and
// what proves each works: support/starters.mjs, shared with scripts/release-rehearsal.mjs.

const STEP_TIMEOUT = 15 * 60_000;
let work: string;
let tarballs: Record<(typeof PACKAGES)[number] | 'create-gale', string>;
let packedTemplates: string[];
let createGale: string;
const timings: string[] = [];

beforeAll(async () => {
  for (const built of ['dist/cli.js', 'templates/versions.json']) {
    if (!existsSync(join(packageDir, built))) {
      throw new Error(`create-gale is not built (no ${built}): run \`pnpm build\` first`);
    }
  }
  work = mkdtempSync(join(tmpdir(), 'create-gale-starter-'));
  expect(isInside(repoRoot, work), 'the temp directory must be outside the workspace').toBe(false);
  const packs = join(work, 'tarballs');
  mkdirSync(packs);
  const packed: Partial<typeof tarballs> = {};
  for (const dir of [...PACKAGES, 'create-gale'] as const) {
    const before = new Set(readdirSync(packs));
    // pnpm pack applies publishConfig and turns workspace: ranges into versions, as publishing does.
    await command('pnpm', ['pack', '--pack-destination', packs], {
      cwd: join(repoRoot, 'packages', dir),
    });
    const tgz = readdirSync(packs).find((file) => !before.has(file) && file.endsWith('.tgz'));
    if (tgz === undefined) throw new Error(`pnpm pack wrote no tarball for packages/${dir}`);
    packed[dir] = join(packs, tgz);
  }
  tarballs = packed as typeof tarballs;
  // Installed as `npm create` installs it (its bin linked, through its shebang), but into a temp
  // prefix rather than npm's npx cache.
  const cli = join(work, 'cli');
  mkdirSync(cli);
  await command('npm', ['install', '--no-audit', '--no-fund', tarballs['create-gale']], {
    cwd: cli,
  });
  createGale = join(cli, 'node_modules/.bin/create-gale');
  packedTemplates = readdirSync(join(cli, 'node_modules/create-gale/templates'), {
    withFileTypes: true,
  })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}, STEP_TIMEOUT);

// Three installed starters are tens of thousands of files: removed without blocking the event
// loop, and given the time a busy disk needs (Vitest's 10 s hook default was not enough on CI).
afterAll(async () => {
  if (timings.length > 0) console.log(`create-gale starters:\n${timings.join('\n')}`);
  if (work !== undefined) await rm(work, { recursive: true, force: true, maxRetries: 3 });
}, STEP_TIMEOUT);

it('tests exactly the templates that the packed create-gale ships, one per app', () => {
  const apps = readdirSync(join(repoRoot, 'apps')).filter((name) =>
    existsSync(join(repoRoot, 'apps', name, 'package.json')),
  );
  expect(packedTemplates).toEqual(Object.keys(STARTERS).sort());
  expect(packedTemplates).toEqual(apps.sort());
});

for (const [template, starter] of Object.entries(STARTERS)) {
  describe(`the ${template} starter`, () => {
    const name = `my-${template}`;
    let appDir: string;
    let scaffolded: Record<string, unknown>;
    let server: StartedServer | undefined;

    beforeAll(async () => {
      const steps: string[] = [];
      const step = async (label: string, fn: () => Promise<void>): Promise<void> => {
        const start = performance.now();
        await fn();
        steps.push(`${label} ${((performance.now() - start) / 1000).toFixed(1)}s`);
      };
      const projects = join(work, template);
      mkdirSync(projects);
      appDir = join(projects, name);
      try {
        // What `npm create gale my-<template> -- --template <template>` runs.
        await step('scaffold', async () => {
          const output = await command(createGale, [name, '--template', template], {
            cwd: projects,
          });
          expect(output).toContain(`cd ${name} && npm install && npm run dev`);
        });
        scaffolded = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8'));
        // None of @gale/* is on the registry yet: install them from the tarballs, with overrides
        // so that the packages' own dependencies on each other resolve to the tarballs too.
        const local = Object.fromEntries(
          PACKAGES.map((pkg) => [`@gale/${pkg}`, `file:${tarballs[pkg]}`]),
        );
        const pkg = structuredClone(scaffolded) as { dependencies: Record<string, string> };
        for (const dep of Object.keys(pkg.dependencies)) {
          if (dep in local) pkg.dependencies[dep] = local[dep]!;
        }
        writeFileSync(
          join(appDir, 'package.json'),
          `${JSON.stringify({ ...pkg, overrides: local }, null, 2)}\n`,
        );
        await step('npm install', () =>
          command('npm', ['install', '--no-audit', '--no-fund'], { cwd: appDir }).then(() => {}),
        );
        await step('npm run build', () =>
          command('npm', ['run', 'build'], { cwd: appDir }).then(() => {}),
        );
        await step('npm run typecheck', () =>
          command('npm', ['run', 'typecheck'], { cwd: appDir }).then(() => {}),
        );
        await step('npm start', async () => {
          server = await startServer(appDir, template);
        });
      } finally {
        timings.push(`  ${template}: ${steps.join(', ')}`);
      }
    }, STEP_TIMEOUT);

    afterAll(async () => {
      await server?.stop();
    });

    it('is named after its directory and depends on the versions being published', () => {
      expect(scaffolded['name']).toBe(name);
      expect(scaffolded['private']).toBe(true);
      const deps = scaffolded['dependencies'] as Record<string, string>;
      for (const dep of ['@gale/client', '@gale/server']) {
        expect(deps[dep]).toBe(`^${workspaceVersion(dep)}`);
      }
      expect(JSON.stringify(scaffolded)).not.toContain('workspace:');
    });

    it("has the app's scripts and build tools, without the monorepo's tests", () => {
      const scripts = scaffolded['scripts'] as Record<string, string>;
      expect(Object.keys(scripts).sort()).toEqual([
        'build',
        'dev',
        'start',
        'start:bun',
        'typecheck',
      ]);
      const devDependencies = Object.keys(scaffolded['devDependencies'] as object);
      expect(devDependencies).toEqual(
        expect.arrayContaining(['typescript', 'vite', '@tsconfig/strictest', '@types/node']),
      );
      // bun too: a starter's start:bun runs on the user's own Bun.
      for (const testOnly of ['vitest', '@vitest/browser-playwright', 'playwright', 'ws', 'bun']) {
        expect(devDependencies).not.toContain(testOnly);
      }
      expect(existsSync(join(appDir, 'test'))).toBe(false);
      expect(existsSync(join(appDir, 'vitest.config.ts'))).toBe(false);
      expect(filesUnder(join(appDir, 'src')).filter((f) => f.endsWith('.test.ts'))).toEqual([]);
      expect(existsSync(join(appDir, '.gitignore'))).toBe(true);
    });

    it(`serves its page with <${starter.tag}>`, async () => {
      const response = await fetch(server!.url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await response.text()).toContain(`<${starter.tag}`);
    });

    it('answers over WebSocket', async () => {
      await starter.exchange(server!.url);
    });
  });
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'));
}

function workspaceVersion(name: string): string {
  const dir = name.replace('@gale/', '');
  return JSON.parse(readFileSync(join(repoRoot, 'packages', dir, 'package.json'), 'utf8')).version;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}
