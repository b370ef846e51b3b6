import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';

// Two projects: the server and end-to-end tests in Node, and the Lit components in real Chromium
// (Debian's package; no browser download).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'cart-counter',
          include: ['test/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // Pre-bundled up front: discovered mid-run, they would make Vite reload the test page.
        optimizeDeps: {
          include: ['lit', 'lit/directives/keyed.js', 'lit/directives/repeat.js', '@gale/client'],
        },
        test: {
          name: 'cart-counter-components',
          include: ['src/**/*.test.ts'],
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({
              launchOptions: {
                executablePath: '/usr/bin/chromium',
                args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
              },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
