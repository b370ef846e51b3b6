import { describe, expect, it } from 'vitest';
import { isTemplatePath } from './is-template-path.js';

describe('isTemplatePath', () => {
  it('keeps the app sources, configs, README and screenshot', () => {
    for (const path of [
      '',
      'package.json',
      'server.ts',
      'server/history.ts',
      'src/components/chat-app.ts',
      'index.html',
      'vite.config.ts',
      'tsconfig.json',
      'tsconfig.server.json',
      'README.md',
      'docs/screenshot.png',
    ]) {
      expect(isTemplatePath(path), path).toBe(true);
    }
  });

  it('leaves out dependencies, build output and caches at any depth', () => {
    for (const path of [
      'node_modules',
      'node_modules/lit/index.js',
      'dist/server.js',
      'src/dist',
      '.turbo/turbo-build.log',
      'bench-results/today.json',
      'tsconfig.tsbuildinfo',
    ]) {
      expect(isTemplatePath(path), path).toBe(false);
    }
  });

  it("leaves out the app's tests", () => {
    for (const path of ['test', 'test/e2e.integration.test.ts', 'vitest.config.ts']) {
      expect(isTemplatePath(path), path).toBe(false);
    }
    expect(isTemplatePath('src/components/message-form.test.ts')).toBe(false);
    expect(isTemplatePath('src\\components\\message-form.test.ts')).toBe(false);
  });
});
