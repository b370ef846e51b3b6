import { describe, expect, it } from 'vitest';
import { CreateGaleError, type CreateGaleErrorCode } from './errors.js';
import { parseCliArgs } from './parse-cli-args.js';

const templates = ['cart-counter', 'chat', 'echo'];

function expectRefused(argv: string[], code: CreateGaleErrorCode, message: RegExp): void {
  let caught: unknown;
  try {
    parseCliArgs(argv, templates);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CreateGaleError);
  expect((caught as CreateGaleError).code).toBe(code);
  expect((caught as CreateGaleError).message).toMatch(message);
}

describe('parseCliArgs', () => {
  it('accepts a directory and --template, in either order', () => {
    const expected = { kind: 'create', directory: 'my-app', template: 'chat' };
    expect(parseCliArgs(['my-app', '--template', 'chat'], templates)).toEqual(expected);
    expect(parseCliArgs(['--template=chat', 'my-app'], templates)).toEqual(expected);
    expect(parseCliArgs(['-t', 'chat', 'my-app'], templates)).toEqual(expected);
  });

  it('returns help for --help and -h, whatever else is given', () => {
    expect(parseCliArgs(['--help'], templates)).toEqual({ kind: 'help' });
    expect(parseCliArgs(['my-app', '-h'], templates)).toEqual({ kind: 'help' });
  });

  it('refuses a missing directory', () => {
    expectRefused(['--template', 'echo'], 'ERR_MISSING_DIR', /Missing the target directory/);
    expectRefused(['', '--template', 'echo'], 'ERR_MISSING_DIR', /empty/);
  });

  it('refuses more than one directory', () => {
    expectRefused(
      ['a', 'b', '--template', 'echo'],
      'ERR_INVALID_ARGS',
      /one target directory, got 2/,
    );
  });

  it('refuses a missing template, listing the valid ones', () => {
    expectRefused(['my-app'], 'ERR_MISSING_TEMPLATE', /one of: cart-counter, chat, echo$/);
  });

  it('refuses an unknown template, listing the valid ones', () => {
    expectRefused(
      ['my-app', '--template', 'todo'],
      'ERR_UNKNOWN_TEMPLATE',
      /Unknown template "todo"; one of: cart-counter, chat, echo$/,
    );
  });

  it('refuses unknown options and --template without a value', () => {
    expectRefused(['my-app', '--typescript'], 'ERR_INVALID_ARGS', /--typescript/);
    expectRefused(['my-app', '--template'], 'ERR_INVALID_ARGS', /--template/);
  });
});
