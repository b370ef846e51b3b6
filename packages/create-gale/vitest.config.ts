import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'create-gale',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    // One file at a time: the starter test and the release rehearsal both run npm installs of
    // three starters; together on CI the rehearsal's Verdaccio answered 404 for packages it
    // proxies (never alone).
    fileParallelism: false,
  },
});
