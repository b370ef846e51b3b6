import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** A README's shell recipe, running as a user's paste would: see `runShellRecipe`. */
export interface ShellRecipe {
  /** What the script and everything it started printed so far (stdout and stderr, as they came). */
  readonly output: string;
  /** The script's exit code once its shell has ended (what it started with `&` may run on). */
  readonly exitCode: number | null;
  /** Resolves with the script's exit code once its shell has ended. */
  readonly exited: Promise<number | null>;
  /**
   * Resolves once the output holds each of `texts` (the lines the recipe's servers print when
   * they listen); rejects after `limitMs`, with the output so far (a server that died said why).
   */
  waitForOutput(texts: readonly string[], limitMs?: number): Promise<void>;
  /**
   * Stops every process the script started that is still in its process group (SIGTERM, then
   * SIGKILL after `graceMs`), and resolves once none is left. A process that left the group
   * (`redis-server --daemonize yes` starts its own session) is the caller's to stop.
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Runs `script` as `bash -euo pipefail -c <script>` in `cwd` (as a user pastes a README's ```sh
 * block, but stopping at the first failing command), with this process's environment and `env`
 * on top (an `undefined` removes a variable). The shell leads a process group of its own, which
 * what it starts with `&` stays in: `stop()` ends them all. Call it in `afterAll` or `finally`.
 */
export function runShellRecipe(
  script: string,
  options: { cwd: string; env?: Record<string, string | undefined> },
): ShellRecipe {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...process.env, ...options.env })) {
    if (value !== undefined) env[name] = value;
  }
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => {
    // No bash: said in the output, which the test shows when it waits in vain.
    child.once('error', (error) => {
      output += `${error}\n`;
      resolve(null);
    });
    child.once('exit', (code) => resolve(code));
  });
  const group = child.pid;

  return {
    get output() {
      return output;
    },
    get exitCode() {
      return child.exitCode;
    },
    exited,
    async waitForOutput(texts, limitMs = 60_000) {
      const deadline = Date.now() + limitMs;
      while (!texts.every((text) => output.includes(text))) {
        if (Date.now() > deadline) {
          const missing = texts.filter((text) => !output.includes(text));
          throw new Error(
            `the recipe did not print ${missing.map((text) => JSON.stringify(text)).join(', ')} within ${limitMs / 1000} s; it printed:\n${output}`,
          );
        }
        await pause();
      }
    },
    async stop(graceMs = 5000) {
      if (group === undefined) return; // bash never started
      signal(group, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (groupAlive(group) && Date.now() < deadline) await pause();
      if (!groupAlive(group)) return;
      signal(group, 'SIGKILL');
      while (groupAlive(group)) await pause();
    },
  };
}

function signal(group: number, name: NodeJS.Signals): void {
  try {
    process.kill(-group, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function pause(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * Whether a process of the group is still running. An orphan that exited stays in the group as a
 * zombie until the machine's init reaps it, which some containers' never do: those count as gone.
 */
function groupAlive(group: number): boolean {
  try {
    process.kill(-group, 0);
  } catch {
    return false;
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // it ended meanwhile
    }
    // <pid> (<command, which may hold spaces and parentheses>) <state> <ppid> <pgrp> …
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === group && state !== 'Z') return true;
  }
  return false;
}
