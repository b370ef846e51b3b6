import type { Browser } from 'playwright-core';

/**
 * Launches Debian's Chromium (`/usr/bin/chromium`, installed by scripts/system-deps.sh; no
 * browser download) headless, with the flags a container needs. Close it in `afterAll`.
 *
 * playwright-core is imported here, not at the top of the module: it adds about 29 MB to the V8
 * heap of every process that loads it, and most importers of this package (benchmark clients,
 * peers) never launch a browser.
 */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
