import { describe } from 'vitest';
import { MemoryNicknameRegistry } from '../server/nickname-registry.js';
import { MemoryPresence } from '../server/presence.js';
import { roomPresenceContract } from './room-presence.js';

// In memory, "two processes" are one: both rooms share the same stores.
describe('ChatRoom presence, in memory', () => {
  roomPresenceContract((clock) => {
    const parts = {
      registry: new MemoryNicknameRegistry({ clock }),
      presence: new MemoryPresence(),
    };
    return Promise.resolve([parts, parts] as const);
  });
});
