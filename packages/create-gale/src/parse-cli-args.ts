import { parseArgs } from 'node:util';
import { CreateGaleError } from './errors.js';

/** What the command line asked for, once it is known to be complete and valid. */
export type CliCommand =
  | { readonly kind: 'help' }
  | { readonly kind: 'create'; readonly directory: string; readonly template: string };

/**
 * Parses `create-gale <directory> --template <name>` (`argv` without the node and script paths).
 * Throws `CreateGaleError` for an unknown option, a missing or extra directory, and a missing or
 * unknown template (naming the valid ones); the caller prints it and exits with code 1.
 */
export function parseCliArgs(argv: readonly string[], templates: readonly string[]): CliCommand {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    // parseArgs throws a TypeError with code ERR_PARSE_ARGS_*; its message is already readable.
    throw new CreateGaleError('ERR_INVALID_ARGS', (error as Error).message, { cause: error });
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  const valid = templates.join(', ');
  if (positionals.length === 0) {
    throw new CreateGaleError(
      'ERR_MISSING_DIR',
      'Missing the target directory: create-gale <directory> --template <name>',
    );
  }
  if (positionals.length > 1) {
    throw new CreateGaleError(
      'ERR_INVALID_ARGS',
      `Expected one target directory, got ${positionals.length}: ${positionals.join(' ')}`,
    );
  }
  const directory = positionals[0]!;
  if (directory.trim() === '') {
    throw new CreateGaleError('ERR_MISSING_DIR', 'The target directory name is empty.');
  }
  const template = values.template;
  if (template === undefined) {
    throw new CreateGaleError('ERR_MISSING_TEMPLATE', `Missing --template; one of: ${valid}`);
  }
  if (!templates.includes(template)) {
    throw new CreateGaleError(
      'ERR_UNKNOWN_TEMPLATE',
      `Unknown template "${template}"; one of: ${valid}`,
    );
  }
  return { kind: 'create', directory, template };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      template: { type: 'string', short: 't' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
