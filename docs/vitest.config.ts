import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Workspace packages (@gale/test-utils) resolve to their TypeScript sources.
  resolve: { conditions: ['@gale/source'] },
  test: {
    name: 'docs',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
