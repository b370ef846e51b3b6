import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { freePort, launchChromium, until } from '@gale/test-utils';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `pnpm dev`: Vite with the gale plugin, one process and one URL for the page (with hot reload)
// and the WebSocket routes. Vite's own HMR socket must keep working beside them.
const appDir = new URL('../', import.meta.url);
let vite: ChildProcess;
let output = '';
let url: string;
let browser: Browser;

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escape codes
const ANSI = /\u001b\[[0-9;]*m/g;

beforeAll(async () => {
  const port = await freePort();
  vite = spawn(process.execPath, [new URL('node_modules/vite/bin/vite.js', appDir).pathname], {
    cwd: appDir,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', NO_COLOR: '1', FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Colours off, and stripped anyway: an escape code inside the URL would hide it.
  const collect = (chunk: Buffer): void => {
    output += chunk.toString().replace(ANSI, '');
  };
  vite.stdout!.on('data', collect);
  vite.stderr!.on('data', collect);
  await until(() => output.includes(`http://127.0.0.1:${port}/`), 'its URL', 30_000).catch(() => {
    throw new Error(`vite did not start:\n${output}`);
  });
  url = `http://127.0.0.1:${port}/`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  if (vite && vite.exitCode === null) {
    await new Promise((resolve) => {
      vite.once('exit', resolve);
      vite.kill('SIGTERM');
    });
  }
});

describe('pnpm dev', () => {
  it('serves the page, the WebSocket routes and Vite HMR on one URL; a server change reloads the server only', async () => {
    const page = await browser.newPage();
    const consoleLines: string[] = [];
    page.on('console', (message) => consoleLines.push(message.text()));
    await page.goto(url);
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Connected');
    // Vite's client logs this once its HMR socket is open: the gale routes did not take it.
    await expect.poll(() => consoleLines).toContain('[vite] connected.');

    await page.getByRole('textbox', { name: 'Message' }).fill('from dev');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByText('You said: from dev').waitFor();

    // Saving server.ts reloads the application: clients are told 1001 and reconnect by themselves.
    const serverFile = new URL('server.ts', appDir);
    const source = readFileSync(serverFile, 'utf8');
    writeFileSync(serverFile, source);
    await expect.poll(() => output, { timeout: 15_000 }).toContain('gale: server reloaded');
    await expect
      .poll(() => page.getByRole('status').textContent(), { timeout: 15_000 })
      .toBe('Connected');
    await page.getByRole('textbox', { name: 'Message' }).fill('after reload');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByText('You said: after reload').waitFor();
    // The page itself was not reloaded: its log still has the first exchange.
    await page.getByText('You said: from dev').waitFor();
    await page.close();
  });
});
