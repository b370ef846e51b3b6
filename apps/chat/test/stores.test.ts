import { describe, expect, it } from 'vitest';
import { type ChatMessage, MemoryHistory } from '../server/history.js';
import { MemoryNicknameRegistry } from '../server/nickname-registry.js';
import { MemoryPresence } from '../server/presence.js';

describe('MemoryNicknameRegistry', () => {
  it('gives a free nickname to exactly one of many concurrent claimants', async () => {
    const registry = new MemoryNicknameRegistry();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => registry.claim('ada', `owner-${i}`)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('treats nicknames case-insensitively and after NFKC', async () => {
    const registry = new MemoryNicknameRegistry();
    expect(await registry.claim('Ada', 'a')).toBe(true);
    expect(await registry.claim('ADA', 'b')).toBe(false);
    expect(await registry.claim('ａｄａ', 'b')).toBe(false);
    expect(await registry.claim('Straße', 'a')).toBe(true);
    expect(await registry.claim('STRASSE', 'b')).toBe(false);
  });

  it('lets the owner claim again, and only the owner release', async () => {
    const registry = new MemoryNicknameRegistry();
    expect(await registry.claim('ada', 'a')).toBe(true);
    expect(await registry.claim('ada', 'a')).toBe(true);
    expect(await registry.release('ada', 'b')).toBe(false);
    expect(await registry.claim('ada', 'b')).toBe(false);
    expect(await registry.release('ADA', 'a')).toBe(true);
    expect(await registry.release('ada', 'a')).toBe(false);
    expect(await registry.claim('ada', 'b')).toBe(true);
  });
});

describe('MemoryPresence', () => {
  it('joins on the first connection and leaves with the last', async () => {
    const presence = new MemoryPresence();
    expect(await presence.join('ada', 'tab1')).toBe(true);
    expect(await presence.join('Ada', 'tab2')).toBe(false);
    expect(await presence.count('ada')).toBe(2);
    expect(await presence.leave('ada', 'tab1')).toBe(false);
    expect(await presence.leave('ada', 'tab1')).toBe(false);
    expect(await presence.leave('ada', 'tab2')).toBe(true);
    expect(await presence.count('ada')).toBe(0);
  });

  it('reports one first join and one last leave under concurrency', async () => {
    const presence = new MemoryPresence();
    const ids = Array.from({ length: 20 }, (_, i) => `tab${i}`);
    const joined = await Promise.all(ids.map((id) => presence.join('ada', id)));
    expect(joined.filter(Boolean)).toHaveLength(1);
    const left = await Promise.all(ids.map((id) => presence.leave('ada', id)));
    expect(left.filter(Boolean)).toHaveLength(1);
  });

  it('removes every connection on leaveAll, after which leave reports nothing', async () => {
    const presence = new MemoryPresence();
    await presence.join('ada', 'tab1');
    await presence.join('ada', 'tab2');
    expect(await presence.leaveAll('ada')).toBe(true);
    expect(await presence.leaveAll('ada')).toBe(false);
    expect(await presence.leave('ada', 'tab1')).toBe(false);
    expect(await presence.join('ada', 'tab3')).toBe(true);
  });
});

describe('MemoryHistory', () => {
  const message = (i: number): ChatMessage => ({
    type: 'message',
    from: 'ada',
    text: `m${i}`,
    at: new Date(i * 1000).toISOString(),
  });

  it('keeps the last messages up to its capacity, oldest first', async () => {
    const history = new MemoryHistory(50);
    for (let i = 1; i <= 175; i++) await history.append(message(i));
    const last = await history.last(50);
    expect(last.map((m) => m.text)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i + 126}`));
    expect((await history.last(3)).map((m) => m.text)).toEqual(['m173', 'm174', 'm175']);
    expect(await history.last(500)).toHaveLength(50);
    expect(await history.last(0)).toEqual([]);
  });

  it('returns what there is when it holds fewer', async () => {
    const history = new MemoryHistory();
    expect(await history.last(50)).toEqual([]);
    await history.append(message(1));
    expect(await history.last(50)).toEqual([message(1)]);
  });
});
