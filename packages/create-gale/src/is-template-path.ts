/** Directory names never copied, at any depth: installs, build output and caches. */
const EXCLUDED_NAMES: ReadonlySet<string> = new Set([
  'node_modules',
  'dist',
  '.turbo',
  'bench-results',
]);

/** Top-level entries of an app that only its monorepo tests use. */
const EXCLUDED_TOP_LEVEL: ReadonlySet<string> = new Set(['test', 'vitest.config.ts']);

/**
 * Whether the file or directory at `relativePath` (relative to the app, `/`- or `\`-separated)
 * belongs in a starter. Dependencies, build output, caches and the app's tests are left out: the
 * starter drops the test tooling (vitest, playwright) that those tests need.
 */
export function isTemplatePath(relativePath: string): boolean {
  const parts = relativePath.split(/[\\/]/).filter((part) => part !== '' && part !== '.');
  if (parts.length === 0) return true;
  if (EXCLUDED_TOP_LEVEL.has(parts[0]!)) return false;
  const last = parts[parts.length - 1]!;
  if (last.endsWith('.test.ts') || last.endsWith('.tsbuildinfo')) return false;
  return !parts.some((part) => EXCLUDED_NAMES.has(part));
}
