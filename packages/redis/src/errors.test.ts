// @gale/server's WebSocketError is @gale/frame's (its own test checks that); @gale/redis does not
// depend on @gale/frame directly.
import { WebSocketError } from '@gale/server';
import { itKeepsTheErrorFamily } from '@gale/test-utils';
import { describe, expect, it } from 'vitest';
import * as redis from './index.js';
import { BrokerUnavailableError } from './index.js';

describe('the error family', () => {
  itKeepsTheErrorFamily({
    exports: redis,
    root: WebSocketError,
    cases: [
      {
        name: 'BrokerUnavailableError',
        Class: BrokerUnavailableError,
        make: (cause) => new BrokerUnavailableError('room', { cause }),
        code: 'ERR_BROKER_UNAVAILABLE',
      },
    ],
    readme: new URL('../README.md', import.meta.url),
  });

  it('BrokerUnavailableError keeps the topic', () => {
    expect(new BrokerUnavailableError('room').topic).toBe('room');
  });
});
