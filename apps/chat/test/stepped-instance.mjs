// One chat instance in a process of its own, on a clock the test steps: the instance that
// scale-out.integration.test.ts kills (SIGKILL) to show what the others do when one dies. It runs
// the production build (dist/server.js) with REDIS_URL and COOKIE_SECRET from the environment,
// its ManualClock starting at CLOCK_START, prints `LISTENING <port>`, then reads commands on
// stdin: `advance <ms>` steps its clock, waits until the heartbeat that started (if any) is done
// and prints `advanced <now>`.
import { createInterface } from 'node:readline';
import { ManualClock } from '@gale/test-utils';
import { createApplication } from '../dist/server.js';

const clock = new ManualClock(Number(process.env.CLOCK_START));
const app = createApplication({ redisUrl: process.env.REDIS_URL, clock, accessLog: false });
await app.ready;
const server = await app.listen(0, '127.0.0.1');
console.log(`LISTENING ${server.address().port}`);

for await (const line of createInterface({ input: process.stdin })) {
  const [command, argument] = line.split(' ');
  if (command !== 'advance') throw new Error(`unknown command: ${line}`);
  clock.advance(Number(argument));
  await app.room.settled();
  console.log(`advanced ${clock.now()}`);
}
