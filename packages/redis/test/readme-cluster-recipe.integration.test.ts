import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  portsInUse,
  readmeShellBlock,
  requirePorts,
  runReadmeExample,
  runShellRecipe,
  useHeldPorts,
} from '@gale/test-utils';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

// The README's recipe for a cluster to try the cluster example on, as a user pastes it (in a
// throwaway folder): six daemonized redis-servers on 7000-7005 (their cluster buses on
// 17000-17005), then `redis-cli --cluster create`; and then the example as printed, with its
// default URL. (cluster.integration.test.ts runs the same example on free ports.) Those ports may
// be a developer's: when one is taken the test says so and is skipped; on CI it must run.
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const NODES = [7000, 7001, 7002, 7003, 7004, 7005];
const PORTS = [...NODES, ...NODES.map((port) => port + 10_000)];

describe("the README's Redis Cluster recipe", () => {
  // The ports held, and the recipe's servers stopped in afterAll (useHeldPorts).
  const ports = useHeldPorts(PORTS);

  it('runs as printed, and the cluster example then prints its line', async ({ skip }) => {
    const script = await readmeShellBlock(join(packageDir, 'README.md'), (block) =>
      block.includes('--cluster create'),
    );
    await requirePorts(PORTS, { skip }, "the README's cluster recipe");
    const dir = mkdtempSync(join(tmpdir(), 'gale-cluster-recipe-'));
    const recipe = runShellRecipe(script, { cwd: dir });
    ports.cleanUp(async () => {
      await Promise.all(
        NODES.map((port) =>
          run('redis-cli', ['-p', String(port), 'shutdown', 'nosave']).catch(() => {}),
        ),
      );
      await recipe.stop();
      // The nodes are not our children: wait until they let go of the ports, for the next test.
      const deadline = Date.now() + 30_000;
      while ((await portsInUse(PORTS)).length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      rmSync(dir, { recursive: true, force: true });
    });

    expect(await recipe.exited, recipe.output).toBe(0);
    expect(recipe.output).toContain('[OK] All 16384 slots covered.');

    // The example's own default URL (the seeds 7000-7002), as a user runs it next.
    const url = process.env['REDIS_URL'];
    delete process.env['REDIS_URL'];
    try {
      const { stdout } = await runReadmeExample(packageDir, 60_000, 1);
      expect(stdout).toBe('sharded pub/sub: b heard "hello" at offset 1\n');
    } finally {
      if (url !== undefined) process.env['REDIS_URL'] = url;
    }
  }, 120_000);
});
