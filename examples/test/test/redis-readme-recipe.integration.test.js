import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { websocketConnect } from '@gale/client';
import { readmeShellBlock, requirePorts, runShellRecipe, useHeldPorts } from '@gale/test-utils';
import { describe, expect, it } from 'vitest';
import { exampleDir, sayUntilHeard } from './start.js';

const run = promisify(execFile);

// The @gale/redis README's recipe for two instances of its first example (room.js, which is
// examples/redis-two-instances), as a user pastes it in that folder: Redis on 6379 and the rooms
// on 8888 and 8889, the ports it prints. Those ports may be a developer's (Redis, the demos): when
// one is taken the test says so and is skipped; on CI, a fresh machine, it must run.
const readme = fileURLToPath(new URL('../../../packages/redis/README.md', import.meta.url));
const PORTS = [6379, 8888, 8889];

describe("the @gale/redis README's two-instance recipe", () => {
  // The ports held, and the recipe's servers stopped in afterAll (useHeldPorts).
  const ports = useHeldPorts(PORTS);

  it('runs as printed in examples/redis-two-instances: a client on :8888 and one on :8889 hear each other', async ({
    skip,
  }) => {
    const script = await readmeShellBlock(readme, (block) => block.includes('node room.js'));
    await requirePorts(PORTS, { skip }, 'the two-instance recipe');
    // A user's shell: room.js falls back to Redis on 6379 only without REDIS_URL.
    const recipe = runShellRecipe(script, {
      cwd: exampleDir('redis-two-instances'),
      env: { REDIS_URL: undefined, PORT: undefined },
    });
    ports.cleanUp(async () => {
      // Without saving: as printed, redis-server would write a dump.rdb into the example's folder
      // when stopped.
      await run('redis-cli', ['-p', '6379', 'shutdown', 'nosave']).catch(() => {});
      await recipe.stop();
    });

    await recipe.waitForOutput([
      'listening on http://127.0.0.1:8888/',
      'listening on http://127.0.0.1:8889/',
    ]);
    const [heardOn8888, heardOn8889] = [[], []];
    const alice = await websocketConnect('ws://127.0.0.1:8888/room', {
      onMessage: (message) => heardOn8888.push(JSON.parse(message)),
    });
    const bob = await websocketConnect('ws://127.0.0.1:8889/room', {
      onMessage: (message) => heardOn8889.push(JSON.parse(message)),
    });
    await sayUntilHeard(alice, 'hello from 8888', heardOn8889);
    expect(heardOn8889[0]).toEqual({ said: 'hello from 8888' });
    await sayUntilHeard(bob, 'hello from 8889', heardOn8888);
    expect(heardOn8888[0]).toEqual({ said: 'hello from 8889' });
    await Promise.all([alice.close(), bob.close()]);
  }, 120_000);
});
