import { readFileSync } from 'node:fs';
// @gale/server's WebSocketError is @gale/frame's (its own test checks that); @gale/redis does not
// depend on @gale/frame directly.
import { WebSocketError } from '@gale/server';
import { describe, expect, it } from 'vitest';
import * as redis from './index.js';
import { BrokerUnavailableError } from './index.js';

const cause = new Error('the cause');
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('the error family', () => {
  it('lists every error class @gale/redis exports', () => {
    const exported = Object.values(redis).filter(
      (value) => typeof value === 'function' && value.prototype instanceof Error,
    );
    expect(exported).toEqual([BrokerUnavailableError]);
  });

  it('BrokerUnavailableError is a WebSocketError with its code, its name, the topic and the cause', () => {
    const error = new BrokerUnavailableError('room', { cause });
    expect(error).toBeInstanceOf(WebSocketError);
    expect(BrokerUnavailableError.name).toBe('BrokerUnavailableError');
    expect(error.name).toBe('BrokerUnavailableError');
    expect(error.code).toBe('ERR_BROKER_UNAVAILABLE');
    expect(error.topic).toBe('room');
    expect(error.cause).toBe(cause);
  });

  it('the README error table has a row for BrokerUnavailableError', () => {
    const row = readme.split('\n').find((line) => line.startsWith('| `BrokerUnavailableError` |'));
    expect(row ?? '(no row)').toContain('`ERR_BROKER_UNAVAILABLE`');
  });
});
