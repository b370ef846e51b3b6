import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { holdPorts, portsInUse, requirePorts } from './fixed-ports.js';
import { freePort } from './redis.js';

describe('portsInUse', () => {
  it('names the ports something listens on, on 127.0.0.1 too', async () => {
    const [taken, free] = [await freePort(), await freePort()];
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(taken, '127.0.0.1', resolve));
    try {
      expect(await portsInUse([free, taken])).toEqual([taken]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await portsInUse([free, taken])).toEqual([]);
  });
});

describe('holdPorts', () => {
  it('makes another hold of one of the ports wait until it is let go', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const release = await holdPorts([a, b]);
    await expect(holdPorts([b], 300)).rejects.toThrow(`another test held port ${b}`);
    // The hold is not the port: the recipe can listen there.
    expect(await portsInUse([a, b])).toEqual([]);
    const waiting = holdPorts([b]);
    await release();
    await (await waiting)();
  });
});

describe('requirePorts', () => {
  it('skips the test, naming the taken port, when not on CI; throws on CI', async () => {
    const [port, free] = [await freePort(), await freePort()];
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const ci = process.env['CI'];
    try {
      delete process.env['CI'];
      const skipped: string[] = [];
      const test = { skip: (note: string) => skipped.push(note) };
      await requirePorts([free], test, 'the recipe');
      expect(skipped).toEqual([]);
      await requirePorts([free, port], test, 'the recipe');
      expect(skipped).toEqual([`port ${port} is taken on this machine`]);
      process.env['CI'] = 'true';
      await expect(requirePorts([port], test, 'the recipe')).rejects.toThrow(
        `the recipe must run on CI, a fresh machine, but port ${port} is taken there`,
      );
    } finally {
      if (ci === undefined) delete process.env['CI'];
      else process.env['CI'] = ci;
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
