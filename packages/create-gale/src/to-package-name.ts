import { CreateGaleError } from './errors.js';

/**
 * The npm package name for a project in directory `basename`: lower-cased, with every run of
 * characters npm does not allow in an unscoped name turned into one `-` (`My App` → `my-app`).
 * Throws `CreateGaleError` (`ERR_INVALID_NAME`) when nothing usable is left.
 */
export function toPackageName(basename: string): string {
  const name = basename
    .trim()
    .toLowerCase()
    // Accented letters keep their base letter (é → e) rather than becoming a dash.
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9._~-]+/g, '-')
    // npm: a name must not start with "." or "_", and "-" at either end only looks like a typo.
    .replace(/^[._-]+/, '')
    .replace(/-+$/, '')
    .slice(0, 214);
  if (name === '' || name === 'node_modules' || name === 'favicon.ico') {
    throw new CreateGaleError(
      'ERR_INVALID_NAME',
      `Cannot make an npm package name from the directory name "${basename}"; choose another.`,
    );
  }
  return name;
}
