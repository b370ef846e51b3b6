import { describe, expect, it } from 'vitest';
import { Application } from '../application.js';
import { InvalidStateError } from '../errors.js';
import { serve } from './serve.js';

describe('serve on Node', () => {
  it('loads without Bun, and throws InvalidStateError when called outside Bun', () => {
    const app = new Application([]);
    expect(() => serve(app)).toThrow(InvalidStateError);
  });
});
