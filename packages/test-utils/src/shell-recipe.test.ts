import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runShellRecipe } from './shell-recipe.js';

/** Whether process `pid` runs (an exited one that init has not reaped yet does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('runShellRecipe', () => {
  it('lets what the script starts with & run after the script ended, until stop()', async () => {
    const recipe = runShellRecipe('sleep 600 &\necho "started $!"', { cwd: '/tmp' });
    expect(await recipe.exited).toBe(0);
    expect(recipe.exitCode).toBe(0);
    const pid = Number(/^started (\d+)\n$/.exec(recipe.output)?.[1]);
    expect(running(pid)).toBe(true);
    await recipe.stop();
    expect(running(pid)).toBe(false);
  });

  it('kills what ignores SIGTERM once the grace period is over', async () => {
    const recipe = runShellRecipe('trap \'\' TERM\nsleep 600 &\necho "started $!"', {
      cwd: '/tmp',
    });
    await recipe.exited;
    const pid = Number(/^started (\d+)\n$/.exec(recipe.output)?.[1]);
    await recipe.stop(200);
    expect(running(pid)).toBe(false);
  });

  it('stops at the first failing command; runs with our environment and env on top', async () => {
    const recipe = runShellRecipe(
      'echo "$GREETING $(printenv HOME || echo no home)"\nfalse\necho never',
      {
        cwd: '/tmp',
        env: { GREETING: 'hi', HOME: undefined },
      },
    );
    expect(await recipe.exited).toBe(1);
    expect(recipe.output).toBe('hi no home\n');
  });
});

describe('ShellRecipe.waitForOutput', () => {
  it('resolves once each text was printed, and rejects with the output when one never is', async () => {
    const recipe = runShellRecipe('(sleep 0.2; echo "b: listening") &\necho "a: listening"', {
      cwd: '/tmp',
    });
    try {
      await recipe.waitForOutput(['a: listening', 'b: listening']);
      await expect(recipe.waitForOutput(['c: listening'], 100)).rejects.toThrow(
        'the recipe did not print "c: listening" within 0.1 s; it printed:\na: listening\nb: listening\n',
      );
    } finally {
      await recipe.stop();
    }
  });
});
