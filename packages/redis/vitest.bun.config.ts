import { defineConfig } from 'vitest/config';

// RedisBroker under @gale/server/bun: Vitest started by Bun (`pnpm test:bun`), so that Bun.serve
// exists.
export default defineConfig({
  resolve: { conditions: ['@gale/source'] },
  test: {
    name: 'redis-bun',
    include: ['test/bun/**/*.bun.test.ts'],
    testTimeout: 30_000,
  },
});
