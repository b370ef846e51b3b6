import { describe, expect, it } from 'vitest';
import { CreateGaleError } from './errors.js';
import { type PackageJson, rewritePackageJson } from './rewrite-package-json.js';

const versions = { '@gale/client': '1.2.0', '@gale/server': '1.4.1', '@gale/frame': '2.0.0' };

// The shape of apps/*/package.json in the monorepo.
const app: PackageJson = {
  name: 'chat',
  private: true,
  version: '0.0.0',
  type: 'module',
  scripts: {
    dev: 'vite',
    build: 'vite build && tsc --project tsconfig.server.json',
    start: 'node dist/server.js',
    'start:bun': 'bun dist/server.js',
    typecheck: 'tsc --project tsconfig.json',
    lint: 'biome check .',
    test: 'vitest run',
  },
  dependencies: { '@gale/client': 'workspace:^', '@gale/server': 'workspace:*', lit: '3.3.3' },
  devDependencies: {
    '@tsconfig/strictest': '2.0.8',
    '@types/node': '20.19.43',
    typescript: '7.0.2',
    vite: '8.3.8',
    '@vitest/browser-playwright': '4.1.12',
    playwright: '1.65.1',
    'playwright-core': '1.65.1',
    vitest: '4.1.12',
    ws: '8.23.0',
    '@types/ws': '8.18.2',
    bun: '1.4.5',
  },
};

describe('rewritePackageJson', () => {
  it('names the package, keeps it private and publishes workspace ranges as ^version', () => {
    const pkg = rewritePackageJson(app, 'my-chat', versions);
    expect(pkg.name).toBe('my-chat');
    expect(pkg.private).toBe(true);
    expect(pkg.dependencies).toEqual({
      '@gale/client': '^1.2.0',
      '@gale/server': '^1.4.1',
      lit: '3.3.3',
    });
  });

  it('removes the lint and test scripts and keeps dev, build, start, start:bun and typecheck', () => {
    const pkg = rewritePackageJson(app, 'my-chat', versions);
    expect(Object.keys(pkg.scripts ?? {})).toEqual([
      'dev',
      'build',
      'start',
      'start:bun',
      'typecheck',
    ]);
  });

  it('removes the test-only devDependencies and bun, and keeps the build tools', () => {
    const pkg = rewritePackageJson(app, 'my-chat', versions);
    expect(pkg.devDependencies).toEqual({
      '@tsconfig/strictest': '2.0.8',
      '@types/node': '20.19.43',
      typescript: '7.0.2',
      vite: '8.3.8',
    });
  });

  it('follows pnpm for workspace:~ and explicit workspace ranges', () => {
    const pkg = rewritePackageJson(
      { dependencies: { '@gale/frame': 'workspace:~', '@gale/server': 'workspace:^1.0.0' } },
      'x',
      versions,
    );
    expect(pkg.dependencies).toEqual({ '@gale/frame': '~2.0.0', '@gale/server': '^1.0.0' });
  });

  it('leaves the input unchanged', () => {
    const copy = structuredClone(app);
    rewritePackageJson(app, 'my-chat', versions);
    expect(app).toEqual(copy);
  });

  it('refuses a workspace dependency it has no version for', () => {
    expect(() =>
      rewritePackageJson({ dependencies: { '@gale/nope': 'workspace:^' } }, 'x', versions),
    ).toThrow(
      expect.objectContaining({
        constructor: CreateGaleError,
        code: 'ERR_UNKNOWN_WORKSPACE_PACKAGE',
      }),
    );
  });
});
