import { relative } from 'node:path';
import { CreateGaleError } from './errors.js';
import { parseCliArgs } from './parse-cli-args.js';
import { listTemplates, scaffold } from './scaffold.js';
import { usage } from './usage.js';

/** Where `run()` finds its templates and writes its output; the CLI passes the real ones. */
export interface RunContext {
  /** The package's `templates/` folder. */
  readonly templatesDir: string;
  /** Relative target paths resolve against it, and next steps are printed relative to it. */
  readonly cwd: string;
  /** `npm_config_user_agent`, which names the package manager that ran `create`. */
  readonly userAgent?: string | undefined;
  /** Receives the next steps and `--help`. */
  readonly stdout: (text: string) => void;
  /** Receives error messages with the usage. */
  readonly stderr: (text: string) => void;
}

/**
 * Runs `create-gale` with `argv` (without the node and script paths) and returns the exit code:
 * 0 on success or `--help`, 1 after printing a `CreateGaleError`'s message with the usage. Other
 * errors (bugs, I/O failures) are thrown for the caller to print with their stack.
 */
export function run(argv: readonly string[], context: RunContext): number {
  const templates = listTemplates(context.templatesDir);
  try {
    const command = parseCliArgs(argv, templates);
    if (command.kind === 'help') {
      context.stdout(`${usage(templates)}\n`);
      return 0;
    }
    const { targetDir } = scaffold({
      templatesDir: context.templatesDir,
      template: command.template,
      targetDir: command.directory,
      cwd: context.cwd,
    });
    const dir = relative(context.cwd, targetDir);
    const steps = [...(dir === '' ? [] : [`cd ${quote(dir)}`]), ...commands(context.userAgent)];
    context.stdout(
      `Created ${dir === '' ? 'the project here' : dir} from the ${command.template} template.\n\n` +
        `Next steps:\n  ${steps.join(' && ')}\n`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof CreateGaleError)) throw error;
    context.stderr(`create-gale: ${error.message}\n\n${usage(templates)}\n`);
    return 1;
  }
}

/** Install and dev commands for the package manager that ran `create` (npm unless known). */
function commands(userAgent: string | undefined): string[] {
  const manager = userAgent?.split('/')[0];
  if (manager === 'pnpm') return ['pnpm install', 'pnpm dev'];
  if (manager === 'yarn') return ['yarn', 'yarn dev'];
  if (manager === 'bun') return ['bun install', 'bun run dev'];
  return ['npm install', 'npm run dev'];
}

function quote(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}
