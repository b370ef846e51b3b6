import { defineConfig } from 'vitest/config';

// Vitest started by Bun (`pnpm test:bun`), so that Bun.serve exists: the tests of
// @gale/server/bun, and the behaviour tests of the Node suite, which serve their applications
// with it on Bun (test/serve-runtime.ts). What only Node does is skipped there (`onNode`).
export default defineConfig({
  resolve: { conditions: ['@gale/source'] },
  test: {
    name: 'server-bun',
    include: ['test/bun/**/*.bun.test.ts', 'test/*.integration.test.ts'],
    testTimeout: 30_000,
  },
});
