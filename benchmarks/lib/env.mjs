// The benchmarks' settings come from environment variables (BENCH_ROUNDS=3 …), each with a
// default that keeps runs comparable from one commit to the next. A value that is not a number
// fails at once, naming the variable, instead of turning a loop bound into NaN.

/**
 * The number in environment variable `name`, or `fallback` when it is unset.
 *
 * @param {string} name
 * @param {number} fallback
 * @returns {number}
 */
export function numberFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || Number.isNaN(value)) {
    throw new Error(`${name}: expected a number, got "${raw}"`);
  }
  return value;
}

/**
 * The comma-separated items of environment variable `name` (or of `fallback` when it is unset),
 * without empty ones: `BENCH_ECHO_TEXT_SIZES=` is an empty list.
 *
 * @param {string} name
 * @param {string} fallback
 * @returns {string[]}
 */
export function listFromEnv(name, fallback) {
  return (process.env[name] ?? fallback)
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/**
 * The comma-separated numbers of environment variable `name` (or of `fallback`).
 *
 * @param {string} name
 * @param {string} fallback
 * @returns {number[]}
 */
export function numbersFromEnv(name, fallback) {
  return listFromEnv(name, fallback).map((item) => {
    const value = Number(item);
    if (Number.isNaN(value)) throw new Error(`${name}: expected numbers, got "${item}"`);
    return value;
  });
}
