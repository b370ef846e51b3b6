import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll } from 'vitest';

/**
 * Which of `ports` something listens on right now, on any interface (a README recipe's servers
 * listen on fixed ports; Redis on every interface). Resolves with those ports, in the order given.
 */
export async function portsInUse(ports: readonly number[]): Promise<number[]> {
  const free = await Promise.all(ports.map((port) => canListen(port)));
  return ports.filter((_, index) => !free[index]);
}

/** Whether this process could listen on `port` on every interface (IPv6 and IPv4 where both are). */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/**
 * Holds `ports` against every other test process on this machine that holds them with this
 * function (the test tasks of several packages run at once, and two recipes may both want
 * Redis's 6379), waiting while another holds one: at most `limitMs` (9 minutes: another test may
 * start a slow recipe meanwhile), then it rejects naming the port. Resolves with the function that
 * lets them go; call it in `afterAll`, once the recipe's servers are gone.
 *
 * A hold is a listening socket in Linux's abstract namespace, not the port itself (the recipe must
 * be able to take the port): the kernel drops it when the process ends, so a crashed test holds
 * nothing. Ports are taken in ascending order, so two tests that want overlapping ports cannot
 * each wait for the other.
 */
export async function holdPorts(
  ports: readonly number[],
  limitMs = 540_000,
): Promise<() => Promise<void>> {
  const deadline = Date.now() + limitMs;
  const held: Server[] = [];
  const release = async (): Promise<void> => {
    await Promise.all(
      held.splice(0).map((server) => new Promise((resolve) => server.close(resolve))),
    );
  };
  for (const port of [...new Set(ports)].sort((a, b) => a - b)) {
    for (;;) {
      const server = await hold(port);
      if (server !== null) {
        held.push(server);
        break;
      }
      if (Date.now() > deadline) {
        await release();
        throw new Error(`another test held port ${port} for over ${limitMs / 1000} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return release;
}

/** The hold on `port`, or null while another process has it. */
function hold(port: number): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(null) : reject(error),
    );
    // Nothing ever connects to it; unref'd, it does not keep the test process alive.
    server.listen({ path: `\0gale-test-port-${port}` }, () => resolve(server.unref()));
  });
}

/**
 * For a test that runs a README recipe on its fixed ports, once it holds them (`holdPorts`, in
 * `beforeAll`: the wait for other tests does not count against the test's own time): checks that
 * nothing else listens there. If something does, then on CI (a fresh machine, where the test must
 * run) it throws naming the ports; elsewhere it warns, naming them, and calls `test.skip` (a
 * developer may be running Redis or the demos: the test must neither stop them nor talk to them).
 */
export async function requirePorts(
  ports: readonly number[],
  test: { skip(note: string): void },
  what: string,
): Promise<void> {
  const taken = await portsInUse(ports);
  if (taken.length === 0) return;
  const which = `port${taken.length > 1 ? 's' : ''} ${taken.join(', ')} ${taken.length > 1 ? 'are' : 'is'} taken`;
  if (process.env['CI']) {
    throw new Error(`${what} must run on CI, a fresh machine, but ${which} there`);
  }
  console.warn(`skipping ${what}: ${which} on this machine`);
  test.skip(`${which} on this machine`);
}

/**
 * For a describe block that runs a README recipe on fixed ports: holds them ({@link holdPorts})
 * from its `beforeAll` to its `afterAll` (the wait while another test runs its recipe does not
 * count against the test's time), and in that `afterAll` first runs what the test gave
 * `cleanUp` (stopping the recipe's servers: `afterAll` also runs when the test timed out, where
 * its own `finally` might never), newest first, then lets the ports go.
 */
export function useHeldPorts(ports: readonly number[]): {
  cleanUp(step: () => Promise<void>): void;
} {
  let release = async (): Promise<void> => {};
  const steps: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    release = await holdPorts(ports);
  }, 600_000);
  afterAll(async () => {
    try {
      for (const step of steps.splice(0).reverse()) await step();
    } finally {
      await release();
    }
  });
  return { cleanUp: (step) => void steps.push(step) };
}
