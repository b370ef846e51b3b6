import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'create-gale',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    // One file at a time: the starter test and the release rehearsal both run npm installs of
    // starters, and two at once on a two-core machine only make both slower.
    fileParallelism: false,
  },
});
