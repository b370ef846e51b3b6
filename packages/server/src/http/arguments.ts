import { HTTPError } from '../errors.js';

// Tornado's argument rules: the last value wins; a missing argument without a default is 400.

/** The last of `values`, else `defaultValue`; neither: `HTTPError` 400 `Missing argument <name>`. */
export function lastValue(
  name: string,
  values: readonly string[],
  defaultValue: string | undefined,
): string {
  const value = values.at(-1) ?? defaultValue;
  if (value === undefined) throw new HTTPError(400, `Missing argument ${name}`);
  return value;
}

/**
 * The values of a JSON body's property as arguments: a string, number or boolean, or an array of
 * those; `null` counts as absent, anything else is `HTTPError` 400.
 */
export function argumentValues(name: string, value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap((item: unknown) => scalarValue(name, item));
  return scalarValue(name, value);
}

function scalarValue(name: string, value: unknown): string[] {
  if (value === null) return [];
  if (typeof value === 'string') return [value];
  if (typeof value === 'number' || typeof value === 'boolean') return [String(value)];
  throw new HTTPError(400, `Invalid argument ${name}`);
}
