import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

// The package resolves by its own name from inside its directory (self-reference), so Node's
// resolver with a given condition shows exactly what a bundler or Node would load. Runs on dist
// (the test task depends on the build).
const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));

function resolveWith(conditions: string[]): string {
  const flags = conditions.map((c) => `--conditions=${c}`);
  const url = execFileSync(
    process.execPath,
    [...flags, '--input-type=module', '-e', "console.log(import.meta.resolve('@gale/client'))"],
    { cwd: packageDir, encoding: 'utf8' },
  ).trim();
  return fileURLToPath(url);
}

describe('export conditions', () => {
  it.each([
    [['browser'], 'dist/index.browser.js'],
    [[], 'dist/index.node.js'],
  ])(
    'with conditions %j, @gale/client resolves to %s, which exists with its types',
    (conditions, file) => {
      const resolved = resolveWith(conditions);
      expect(resolved).toBe(join(packageDir, file));
      expect(existsSync(resolved)).toBe(true);
      expect(existsSync(resolved.replace(/\.js$/, '.d.ts'))).toBe(true);
    },
  );

  it('publishes the same conditions, each with types first', () => {
    const published = manifest.publishConfig.exports['.'];
    expect(Object.keys(published)).toEqual(['browser', 'node', 'default']);
    for (const target of Object.values(published) as Array<Record<string, string>>) {
      expect(Object.keys(target)).toEqual(['types', 'default']);
      expect(existsSync(join(packageDir, target['types']!))).toBe(true);
      expect(existsSync(join(packageDir, target['default']!))).toBe(true);
    }
  });

  it('the two builds export the same names', async () => {
    const node = await import(pathToFileURL(join(packageDir, 'dist/index.node.js')).href);
    const browser = await import(pathToFileURL(join(packageDir, 'dist/index.browser.js')).href);
    expect(Object.keys(browser).sort()).toEqual(Object.keys(node).sort());
  });
});
