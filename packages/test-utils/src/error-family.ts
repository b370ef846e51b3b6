import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

/** One error class a package exports, as `itKeepsTheErrorFamily` checks it. */
export interface ErrorCase {
  readonly name: string;
  readonly Class: abstract new (...args: never[]) => Error;
  /** Makes one, passing `cause` in its options. */
  readonly make: (cause: Error) => Error & { readonly code: string };
  /** The code it carries. */
  readonly code: string;
  /**
   * What its row in the README's error table must contain: its code by default; a wildcard or a
   * type name for classes with a family of codes (`ERR_HANDSHAKE_*`). null: no row (the root).
   */
  readonly documented?: string | null;
}

/**
 * The tests every published package runs on its errors (one family, rooted in @gale/frame's
 * `WebSocketError`): the package exports exactly `cases`' classes; each error is a `root` with its
 * code, its class's name and the cause it was given; a README table row names each class with its code.
 * Call it inside a `describe`.
 */
export function itKeepsTheErrorFamily(options: {
  /** The package's module namespace (`import * as pkg from './index.js'`). */
  readonly exports: Readonly<Record<string, unknown>>;
  /** @gale/frame's `WebSocketError`. */
  readonly root: abstract new (
    ...args: never[]
  ) => Error;
  readonly cases: readonly ErrorCase[];
  /** The package's README.md. */
  readonly readme: URL;
}): void {
  const { cases, root } = options;
  it('exports exactly the listed error classes', () => {
    const exported = Object.values(options.exports).filter(
      (value) => typeof value === 'function' && value.prototype instanceof Error,
    );
    expect(new Set(exported)).toEqual(new Set(cases.map(({ Class }) => Class)));
  });

  it.each(cases)('$name is a WebSocketError with its code, its name and the cause', (each) => {
    const cause = new Error('the cause');
    const error = each.make(cause);
    expect(error).toBeInstanceOf(each.Class);
    expect(error).toBeInstanceOf(root);
    expect(each.Class.name).toBe(each.name);
    expect(error.name).toBe(each.name);
    expect(error.code).toBe(each.code);
    expect(error.cause).toBe(cause);
  });

  const documented = cases.filter((each) => each.documented !== null);
  if (documented.length === 0) return;
  it.each(documented)('the README error table has a row for $name', (each) => {
    const readme = readFileSync(options.readme, 'utf8');
    const code = each.documented ?? `\`${each.code}\``;
    // A table row that names the class and its code, in either order.
    const row = readme
      .split('\n')
      .find(
        (line) => line.startsWith('|') && line.includes(`\`${each.name}\``) && line.includes(code),
      );
    expect(row ?? '(no row)', `${each.name} with ${code}`).not.toBe('(no row)');
  });
}
