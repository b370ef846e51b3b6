import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { websocketConnect } from '@gale/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The starters as a user gets them: the packages packed exactly as they would be published, the
// packed create-gale run to scaffold each template into a directory outside the workspace, then
// `npm install` (the @gale/* packages from the tarballs, everything else from the registry),
// `npm run build`, `npm run typecheck` and `npm start`, checked over HTTP and WebSocket with
// @gale/client's Node build. Needs `pnpm build` first (turbo runs it before `test`) and the
// npm registry.

const packageDir = fileURLToPath(new URL('../', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = ['frame', 'io', 'server', 'client', 'redis'] as const;

/** What proves a running starter works: its page's custom element and one WebSocket exchange. */
interface Starter {
  readonly tag: string;
  readonly exchange: (base: URL) => Promise<void>;
}

// Exactly the templates create-gale ships: the first test fails if one is missing or extra.
const STARTERS: Readonly<Record<string, Starter>> = {
  echo: {
    tag: 'echo-app',
    async exchange(base) {
      const connection = await websocketConnect(new URL('/websocket', wsBase(base)));
      await connection.writeMessage('hi');
      expect(await connection.readMessage()).toBe('You said: hi');
      await connection.close();
    },
  },
  'cart-counter': {
    tag: 'burts-books',
    async exchange(base) {
      // The first message is the stock (and this caller's cart, empty).
      const connection = await websocketConnect(new URL('/cart/status', wsBase(base)));
      const status = JSON.parse(String(await connection.readMessage()));
      expect(status).toEqual(expect.objectContaining({ inventoryCount: expect.any(Number) }));
      await connection.close();
    },
  },
  chat: {
    tag: 'chat-app',
    async exchange(base) {
      // WS /chat needs the signed cookie that POST /login sets, and POST /login needs the
      // _xsrf cookie's token (GET /login sets the cookie), as the page sends it.
      const loaded = await fetch(new URL('/login', base));
      const xsrf = loaded.headers
        .getSetCookie()
        .map((header) => header.split(';')[0]!)
        .find((pair) => pair.startsWith('_xsrf='));
      expect(xsrf).toBeDefined();
      const login = await fetch(new URL('/login', base), {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Cookie: xsrf!,
          'X-XSRFToken': xsrf!.slice('_xsrf='.length),
        },
        body: JSON.stringify({ nickname: 'starter-test' }),
      });
      expect(login.status).toBe(200);
      const cookie = login.headers
        .getSetCookie()
        .map((header) => header.split(';')[0])
        .join('; ');
      expect(cookie).not.toBe('');
      const connection = await websocketConnect(new URL('/chat', wsBase(base)), {
        headers: { Cookie: cookie },
      });
      const first = JSON.parse(String(await connection.readMessage()));
      expect(first).toEqual(expect.objectContaining({ type: 'history' }));
      await connection.close();
    },
  },
};

const STEP_TIMEOUT = 15 * 60_000;
let work: string;
let tarballs: Record<(typeof PACKAGES)[number] | 'create-gale', string>;
let packedTemplates: string[];
let createGale: string;
const timings: string[] = [];

beforeAll(async () => {
  for (const built of ['dist/cli.js', 'templates/versions.json']) {
    if (!existsSync(join(packageDir, built))) {
      throw new Error(`create-gale is not built (no ${built}): run \`pnpm build\` first`);
    }
  }
  work = mkdtempSync(join(tmpdir(), 'create-gale-starter-'));
  expect(isInside(repoRoot, work), 'the temp directory must be outside the workspace').toBe(false);
  const packs = join(work, 'tarballs');
  mkdirSync(packs);
  const packed: Partial<typeof tarballs> = {};
  for (const dir of [...PACKAGES, 'create-gale'] as const) {
    const before = new Set(readdirSync(packs));
    // pnpm pack applies publishConfig and turns workspace: ranges into versions, as publishing does.
    await command('pnpm', ['pack', '--pack-destination', packs], {
      cwd: join(repoRoot, 'packages', dir),
    });
    const tgz = readdirSync(packs).find((file) => !before.has(file) && file.endsWith('.tgz'));
    if (tgz === undefined) throw new Error(`pnpm pack wrote no tarball for packages/${dir}`);
    packed[dir] = join(packs, tgz);
  }
  tarballs = packed as typeof tarballs;
  // Installed as `npm create` installs it (its bin linked, through its shebang), but into a temp
  // prefix rather than npm's npx cache.
  const cli = join(work, 'cli');
  mkdirSync(cli);
  await command('npm', ['install', '--no-audit', '--no-fund', tarballs['create-gale']], {
    cwd: cli,
  });
  createGale = join(cli, 'node_modules/.bin/create-gale');
  packedTemplates = readdirSync(join(cli, 'node_modules/create-gale/templates'), {
    withFileTypes: true,
  })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}, STEP_TIMEOUT);

// Three installed starters are tens of thousands of files: removed without blocking the event
// loop, and given the time a busy disk needs (Vitest's 10 s hook default was not enough on CI).
afterAll(async () => {
  if (timings.length > 0) console.log(`create-gale starters:\n${timings.join('\n')}`);
  if (work !== undefined) await rm(work, { recursive: true, force: true, maxRetries: 3 });
}, STEP_TIMEOUT);

it('tests exactly the templates that the packed create-gale ships, one per app', () => {
  const apps = readdirSync(join(repoRoot, 'apps')).filter((name) =>
    existsSync(join(repoRoot, 'apps', name, 'package.json')),
  );
  expect(packedTemplates).toEqual(Object.keys(STARTERS).sort());
  expect(packedTemplates).toEqual(apps.sort());
});

for (const [template, starter] of Object.entries(STARTERS)) {
  describe(`the ${template} starter`, () => {
    const name = `my-${template}`;
    let appDir: string;
    let scaffolded: Record<string, unknown>;
    let server: StartedServer | undefined;

    beforeAll(async () => {
      const steps: string[] = [];
      const step = async (label: string, fn: () => Promise<void>): Promise<void> => {
        const start = performance.now();
        await fn();
        steps.push(`${label} ${((performance.now() - start) / 1000).toFixed(1)}s`);
      };
      const projects = join(work, template);
      mkdirSync(projects);
      appDir = join(projects, name);
      try {
        // What `npm create gale my-<template> -- --template <template>` runs.
        await step('scaffold', async () => {
          const output = await command(createGale, [name, '--template', template], {
            cwd: projects,
          });
          expect(output).toContain(`cd ${name} && npm install && npm run dev`);
        });
        scaffolded = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8'));
        // None of @gale/* is on the registry yet: install them from the tarballs, with overrides
        // so that the packages' own dependencies on each other resolve to the tarballs too.
        const local = Object.fromEntries(
          PACKAGES.map((pkg) => [`@gale/${pkg}`, `file:${tarballs[pkg]}`]),
        );
        const pkg = structuredClone(scaffolded) as { dependencies: Record<string, string> };
        for (const dep of Object.keys(pkg.dependencies)) {
          if (dep in local) pkg.dependencies[dep] = local[dep]!;
        }
        writeFileSync(
          join(appDir, 'package.json'),
          `${JSON.stringify({ ...pkg, overrides: local }, null, 2)}\n`,
        );
        await step('npm install', () =>
          command('npm', ['install', '--no-audit', '--no-fund'], { cwd: appDir }).then(() => {}),
        );
        await step('npm run build', () =>
          command('npm', ['run', 'build'], { cwd: appDir }).then(() => {}),
        );
        await step('npm run typecheck', () =>
          command('npm', ['run', 'typecheck'], { cwd: appDir }).then(() => {}),
        );
        await step('npm start', async () => {
          server = await startServer(appDir, template);
        });
      } finally {
        timings.push(`  ${template}: ${steps.join(', ')}`);
      }
    }, STEP_TIMEOUT);

    afterAll(async () => {
      await server?.stop();
    });

    it('is named after its directory and depends on the versions being published', () => {
      expect(scaffolded['name']).toBe(name);
      expect(scaffolded['private']).toBe(true);
      const deps = scaffolded['dependencies'] as Record<string, string>;
      for (const dep of ['@gale/client', '@gale/server']) {
        expect(deps[dep]).toBe(`^${workspaceVersion(dep)}`);
      }
      expect(JSON.stringify(scaffolded)).not.toContain('workspace:');
    });

    it("has the app's scripts and build tools, without the monorepo's tests", () => {
      const scripts = scaffolded['scripts'] as Record<string, string>;
      expect(Object.keys(scripts).sort()).toEqual(['build', 'dev', 'start', 'typecheck']);
      const devDependencies = Object.keys(scaffolded['devDependencies'] as object);
      expect(devDependencies).toEqual(
        expect.arrayContaining(['typescript', 'vite', '@tsconfig/strictest', '@types/node']),
      );
      for (const testOnly of ['vitest', '@vitest/browser-playwright', 'playwright', 'ws']) {
        expect(devDependencies).not.toContain(testOnly);
      }
      expect(existsSync(join(appDir, 'test'))).toBe(false);
      expect(existsSync(join(appDir, 'vitest.config.ts'))).toBe(false);
      expect(filesUnder(join(appDir, 'src')).filter((f) => f.endsWith('.test.ts'))).toEqual([]);
      expect(existsSync(join(appDir, '.gitignore'))).toBe(true);
    });

    it(`serves its page with <${starter.tag}>`, async () => {
      const response = await fetch(server!.url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await response.text()).toContain(`<${starter.tag}`);
    });

    it('answers over WebSocket', async () => {
      await starter.exchange(server!.url);
    });
  });
}

/** ws:// for an http:// base URL. */
function wsBase(base: URL): URL {
  return new URL(base.href.replace(/^http/, 'ws'));
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'));
}

function workspaceVersion(name: string): string {
  const dir = name.replace('@gale/', '');
  return JSON.parse(readFileSync(join(repoRoot, 'packages', dir, 'package.json'), 'utf8')).version;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

/**
 * The environment for npm in a starter: this one without what pnpm and Vitest add (npm_package_*,
 * npm_lifecycle_*, most npm_config_*, NODE_ENV=test, VITEST*), which would change how npm installs
 * and how Vite builds. Registry, cache and proxy settings stay.
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep =
    /^npm_config_(registry|cache|userconfig|globalconfig|(https?_|no)?proxy|noproxy|strict_ssl|cafile|ca)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) && !keep.test(key)) continue;
    if (/^(VITEST|NODE_ENV$|TEST$|INIT_CWD$|PNPM_)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** Runs a command to completion; rejects with its exit code and the tail of its output. */
function command(file: string, args: readonly string[], options: { cwd?: string } = {}) {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd ?? work,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) return resolve(output);
      reject(
        new Error(
          `${file} ${args.join(' ')} (in ${options.cwd}) exited with ${code ?? signal}:\n` +
            output.slice(-4000),
        ),
      );
    });
  });
}

interface StartedServer {
  readonly url: URL;
  stop(): Promise<void>;
}

/**
 * `npm start` with PORT=0 in its own process group (npm, sh and node), resolved once the app
 * printed its one line `<template>: http://HOST:PORT/ …`. `stop()` ends the whole group.
 */
async function startServer(cwd: string, template: string): Promise<StartedServer> {
  const child: ChildProcess = spawn('npm', ['start'], {
    cwd,
    // Production refuses to start without a cookie secret (the demos that sign cookies).
    env: cleanEnv({ PORT: '0', HOST: '127.0.0.1', COOKIE_SECRET: 'starter-test-secret' }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const group = -child.pid!;
  const groupAlive = () => {
    try {
      process.kill(group, 0);
      return true;
    } catch {
      return false;
    }
  };
  // SIGTERM to npm, sh and node alike; node closes the app and exits. Whatever is left of the
  // group after 5 s is killed.
  const stop = async () => {
    if (groupAlive()) process.kill(group, 'SIGTERM');
    await exited;
    for (let waited = 0; groupAlive() && waited < 5_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (groupAlive()) process.kill(group, 'SIGKILL');
  };
  const line = new RegExp(`^${template}: (http://[^\\s/]+/)`);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`npm start printed no URL in 30 s:\n${output}`)),
        30_000,
      );
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (text) => {
        output += `${text}\n`;
        const match = line.exec(text);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`npm start exited with ${code} before listening:\n${output}`));
      });
    });
    return { url: new URL(url), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
