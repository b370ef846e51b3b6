import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readmeShellBlock, requirePorts, runShellRecipe, useHeldPorts } from '@gale/test-utils';
import { describe, expect, it } from 'vitest';
import { cookieFor, type Endpoint, isMessage, openTab, type Tab } from './helpers.js';

const run = promisify(execFile);

// The README's "Scale it out" recipe as a user pastes it in this folder after `pnpm build` (the
// test task's own build): Redis on 6379 and two `pnpm start` on 8890 and 8891, the ports it
// prints. Those ports may be a developer's (Redis, the demos): when one is taken the test says so
// and is skipped; on CI, a fresh machine, it must run.
const appDir = fileURLToPath(new URL('../', import.meta.url));
const readme = fileURLToPath(new URL('../README.md', import.meta.url));
const PORTS = [6379, 8890, 8891];

const endpoint = (port: number): Endpoint => ({
  http: `http://127.0.0.1:${port}`,
  ws: `ws://127.0.0.1:${port}/chat`,
});

describe('the README\'s "Scale it out" recipe', () => {
  // The ports held, and the recipe's servers stopped in afterAll (useHeldPorts).
  const ports = useHeldPorts(PORTS);

  it('runs as printed: what is said on :8890 is heard on :8891, and back', async ({ skip }) => {
    const script = await readmeShellBlock(readme, (block) => block.includes('pnpm start &'));
    await requirePorts(PORTS, { skip }, 'the scale-out recipe');
    // A user's shell: none of what the recipe sets, nor Vitest's NODE_ENV.
    const recipe = runShellRecipe(script, {
      cwd: appDir,
      env: {
        REDIS_URL: undefined,
        COOKIE_SECRET: undefined,
        PORT: undefined,
        HOST: undefined,
        PRESENCE_GRACE_MS: undefined,
        NODE_ENV: undefined,
      },
    });
    const tabs: Tab[] = [];
    ports.cleanUp(async () => {
      await Promise.all(tabs.map((tab) => tab.close().catch(() => {})));
      await run('redis-cli', ['-p', '6379', 'shutdown', 'nosave']).catch(() => {});
      await recipe.stop();
    });

    // Each instance prints its URL once it is connected to Redis and listening.
    await recipe.waitForOutput(['chat: http://127.0.0.1:8890/', 'chat: http://127.0.0.1:8891/']);
    const [a, b] = [endpoint(8890), endpoint(8891)];

    // Two people, each logged in on one instance, each with a tab there (open once it has the
    // room's history, which the server sends after subscribing the tab).
    const ada = await openTab(a, await cookieFor(a, 'ada'), 'ada');
    tabs.push(ada);
    const bob = await openTab(b, await cookieFor(b, 'bob'), 'bob');
    tabs.push(bob);
    // Presence is shared: the instance of ada's tab announces bob, who joined on the other.
    await ada.until((frame) => frame.type === 'joined' && frame['nickname'] === 'bob', 20_000);

    await ada.send({ type: 'message', text: 'hello from 8890' });
    expect(await bob.until(isMessage('hello from 8890'), 20_000)).toMatchObject({
      from: 'ada',
    });
    await bob.send({ type: 'message', text: 'hello from 8891' });
    expect(await ada.until(isMessage('hello from 8891'), 20_000)).toMatchObject({
      from: 'bob',
    });
  }, 120_000);
});
