import { describe, expect, it } from 'vitest';
import { keySlot } from './slot.js';

describe('keySlot', () => {
  it('hashes like Redis Cluster (CLUSTER KEYSLOT)', () => {
    // Values from redis-server 7.0.15's CLUSTER KEYSLOT.
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('gale:{t}:m')).toBe(15891);
    expect(keySlot('gale:{t}')).toBe(15891);
    expect(keySlot('{bar')).toBe(4015);
    expect(keySlot('é')).toBe(10180);
  });

  it('uses the hash tag when it is not empty, the whole name otherwise', () => {
    expect(keySlot('a{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'));
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
    expect(keySlot('x{é}')).toBe(keySlot('é'));
  });
});
