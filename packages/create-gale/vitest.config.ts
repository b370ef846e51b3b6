import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'create-gale',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
