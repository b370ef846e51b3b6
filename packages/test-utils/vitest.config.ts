import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: '@gale/test-utils',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
