import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources through this export condition.
  resolve: { conditions: ['@gale/source'] },
  test: {
    name: 'server',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The Bun-only tests run under Bun (vitest.bun.config.ts, `pnpm test:bun`), which runs the
    // integration tests again there, against @gale/server/bun.
    exclude: ['**/node_modules/**', 'test/bun/**'],
    testTimeout: 30_000,
  },
});
