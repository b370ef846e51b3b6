import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type PackageJson, rewritePackageJson } from '../src/rewrite-package-json.js';

// The README a starter gets (the app's STARTER.md, copied by scripts/copy-templates.mjs) is
// written for the starter: every script it tells the user to run is one the starter's
// package.json has, and it says nothing about the monorepo (its tests, `pnpm create gale`).
// Reads the built templates/ (turbo builds before `test`).

const templatesDir = fileURLToPath(new URL('../templates/', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const apps = readdirSync(join(repoRoot, 'apps')).filter((name) =>
  existsSync(join(repoRoot, 'apps', name, 'package.json')),
);

/** The scripts a README tells the user to run: `npm run x`, `npm x` (start, test), `pnpm x`. */
function scriptsMentioned(readme: string): string[] {
  const found = new Set<string>();
  // npm built-ins that are not scripts, and pnpm commands that are not scripts.
  const notScripts = new Set(['install', 'ci', 'i', 'add', 'create', 'exec', 'dlx', 'init']);
  for (const match of readme.matchAll(/\bnpm run ([\w:-]+)/g)) found.add(match[1]!);
  for (const match of readme.matchAll(/\bnpm (start|test|stop|restart)\b/g)) found.add(match[1]!);
  for (const match of readme.matchAll(/\bpnpm (?:run )?([\w:-]+)/g)) {
    if (!notScripts.has(match[1]!)) found.add(match[1]!);
  }
  return [...found].sort();
}

it('finds npm and pnpm script mentions', () => {
  expect(
    scriptsMentioned('npm install; npm run dev, `npm start`, pnpm build, pnpm run x, pnpm install'),
  ).toEqual(['build', 'dev', 'start', 'x']);
});

it('builds one template per app', () => {
  expect(existsSync(join(templatesDir, 'versions.json')), 'run `pnpm build` first').toBe(true);
  const templates = readdirSync(templatesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);
  expect(templates.sort()).toEqual([...apps].sort());
});

for (const app of apps) {
  describe(`the ${app} starter's README`, () => {
    const readme = () => readFileSync(join(templatesDir, app, 'README.md'), 'utf8');

    it("is the app's STARTER.md, and STARTER.md is not copied as well", () => {
      expect(readme()).toBe(readFileSync(join(repoRoot, 'apps', app, 'STARTER.md'), 'utf8'));
      expect(existsSync(join(templatesDir, app, 'STARTER.md'))).toBe(false);
    });

    it("mentions only scripts that the starter's package.json has", () => {
      const pkg = JSON.parse(
        readFileSync(join(templatesDir, app, 'package.json'), 'utf8'),
      ) as PackageJson;
      const versions = JSON.parse(readFileSync(join(templatesDir, 'versions.json'), 'utf8'));
      const scripts = Object.keys(rewritePackageJson(pkg, `my-${app}`, versions).scripts ?? {});
      const mentioned = scriptsMentioned(readme());
      expect(mentioned.length).toBeGreaterThan(0);
      for (const script of mentioned)
        expect(scripts, `README mentions "${script}"`).toContain(script);
      for (const script of ['dev', 'build', 'start']) expect(mentioned).toContain(script);
    });

    it('says nothing of the monorepo: no tests, no test/ folder, no create gale', () => {
      const text = readme();
      expect(text).not.toMatch(/\b(npm|pnpm) (run )?test\b/);
      expect(text).not.toMatch(/`test\/|\btest\//);
      expect(text).not.toMatch(/\b(npm|pnpm|yarn) create gale\b/);
      expect(text).not.toMatch(/monorepo|workspace:|UPDATE_SCREENSHOTS|\.test\.ts/);
      // Every file it names in a table exists in the starter.
      for (const match of text.matchAll(
        /`((?:src|server)\/[\w./-]+\.ts|[\w.-]+\.(?:ts|json|html))`/g,
      )) {
        const file = match[1]!;
        if (file.includes('*')) continue;
        expect(existsSync(join(templatesDir, app, file)), `README names ${file}`).toBe(true);
      }
    });
  });
}
