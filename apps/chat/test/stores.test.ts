import type { ManualClock } from '@gale/test-utils';
import { describe } from 'vitest';
import { MemoryHistory } from '../server/history.js';
import { MemoryNicknameRegistry } from '../server/nickname-registry.js';
import { MemoryPresence } from '../server/presence.js';
import { historyContract, presenceContract, registryContract } from './store-contracts.js';

// The in-memory stores: one process, so both "processes" of the contracts are the same object.
function both<T>(make: (clock: ManualClock) => T) {
  return (clock: ManualClock) => {
    const store = make(clock);
    return Promise.resolve([store, store] as const);
  };
}

describe('MemoryNicknameRegistry', () => {
  registryContract(both((clock) => new MemoryNicknameRegistry({ clock })));
});

describe('MemoryPresence', () => {
  presenceContract(both(() => new MemoryPresence()));
});

describe('MemoryHistory', () => {
  historyContract(both(() => new MemoryHistory()));
});
