import { CreateGaleError } from './errors.js';

/** A package.json as parsed JSON; only the fields the rewrite touches are typed. */
export interface PackageJson {
  name?: string;
  private?: boolean;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [field: string]: unknown;
}

/** Scripts that run the monorepo's own checks (Biome's config and the app tests stay behind). */
export const REMOVED_SCRIPTS: readonly string[] = ['lint', 'test'];

/**
 * devDependencies that only the apps' tests use (their tests are not copied), and `bun`: the
 * monorepo installs Bun from npm so that its tests and `pnpm start:bun` need none on the PATH; a
 * starter's `start:bun` runs on the user's own Bun, and Node users download no Bun binary.
 */
export const TEST_ONLY_DEV_DEPENDENCIES: readonly string[] = [
  '@gale/test-utils',
  'vitest',
  '@vitest/browser-playwright',
  'playwright',
  'playwright-core',
  'ws',
  '@types/ws',
  'bun',
];

const DEPENDENCY_FIELDS = [
  'dependencies',
  'devDependencies',
  'peerDependencies',
  'optionalDependencies',
] as const;

/**
 * Turns an app's package.json into the starter's: `name` becomes `name`, every `workspace:`
 * dependency becomes a range of the version being published (from `versions`), and the scripts
 * and devDependencies of the monorepo's tests are removed. It stays `private` (an app, not a
 * library). Returns a new object; throws `CreateGaleError` (`ERR_UNKNOWN_WORKSPACE_PACKAGE`) if a
 * `workspace:` dependency has no version in `versions`.
 */
export function rewritePackageJson(
  pkg: PackageJson,
  name: string,
  versions: Readonly<Record<string, string>>,
): PackageJson {
  const result: PackageJson = { ...pkg, name, private: true };
  for (const field of DEPENDENCY_FIELDS) {
    const deps = pkg[field];
    if (deps === undefined) continue;
    const rewritten: Record<string, string> = {};
    for (const [dep, spec] of Object.entries(deps)) {
      if (field === 'devDependencies' && TEST_ONLY_DEV_DEPENDENCIES.includes(dep)) continue;
      rewritten[dep] = spec.startsWith('workspace:') ? publishedRange(dep, spec, versions) : spec;
    }
    result[field] = rewritten;
  }
  if (pkg.scripts !== undefined) {
    result.scripts = Object.fromEntries(
      Object.entries(pkg.scripts).filter(([script]) => !REMOVED_SCRIPTS.includes(script)),
    );
  }
  return result;
}

/**
 * The range pnpm publishes for a `workspace:` spec: `workspace:~` → `~1.2.3`, an explicit
 * `workspace:<range>` → that range; everything else (`^`, `*`) → `^1.2.3`, since a starter should
 * take compatible releases.
 */
function publishedRange(
  dep: string,
  spec: string,
  versions: Readonly<Record<string, string>>,
): string {
  const version = versions[dep];
  if (version === undefined) {
    throw new CreateGaleError(
      'ERR_UNKNOWN_WORKSPACE_PACKAGE',
      `The template depends on ${dep} (${spec}), which create-gale has no version for.`,
    );
  }
  const range = spec.slice('workspace:'.length);
  if (range === '~') return `~${version}`;
  if (range === '' || range === '^' || range === '*') return `^${version}`;
  return range;
}
