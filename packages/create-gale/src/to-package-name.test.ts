import { describe, expect, it } from 'vitest';
import { toPackageName } from './to-package-name.js';

describe('toPackageName', () => {
  it('keeps a valid name as it is', () => {
    expect(toPackageName('my-app')).toBe('my-app');
    expect(toPackageName('app2.web_v1')).toBe('app2.web_v1');
  });

  it('lower-cases and turns runs of other characters into one dash', () => {
    expect(toPackageName('My Chat App!')).toBe('my-chat-app');
    expect(toPackageName('Café  Chat')).toBe('cafe-chat');
  });

  it('drops leading dots, underscores and dashes, which npm refuses', () => {
    expect(toPackageName('.hidden')).toBe('hidden');
    expect(toPackageName('_private-')).toBe('private');
  });

  it('refuses a name with nothing usable left', () => {
    expect(() => toPackageName('...')).toThrow(/Cannot make an npm package name/);
    expect(() => toPackageName('node_modules')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_NAME' }),
    );
  });
});
