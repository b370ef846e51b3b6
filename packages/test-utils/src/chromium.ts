import { type Browser, chromium } from 'playwright-core';

/**
 * Launches Debian's Chromium (`/usr/bin/chromium`, installed by scripts/system-deps.sh; no
 * browser download) headless, with the flags a container needs. Close it in `afterAll`.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
