import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../server/history.js';
import { MAX_ENTRIES, RoomLog } from '../src/room-log.js';

// The page's list, frame by frame: histories replace it without losing what came after them or
// showing anything twice.

const at = '2026-03-01T14:05:00.000Z';
const message = (text: string, id: string | null = text): ChatMessage =>
  id === null
    ? { type: 'message', from: 'bob', text, at }
    : { type: 'message', id, from: 'bob', text, at };
const history = (...texts: string[]) =>
  ({ type: 'history', messages: texts.map((t) => message(t)) }) as const;
const texts = (log: RoomLog) =>
  log.entries.map((entry) =>
    entry.kind === 'message' ? entry.text : `${entry.kind} ${entry.nickname}`,
  );

function entered(): RoomLog {
  const log = new RoomLog();
  log.reset();
  return log;
}

describe('RoomLog', () => {
  it('shows the history, then messages and notices as they come', () => {
    const log = entered();
    expect(log.isHistoryDue).toBe(true);
    log.receive(history('a', 'b'));
    expect(log.isHistoryDue).toBe(false);
    log.receive({ type: 'joined', nickname: 'ada' });
    log.receive(message('c'));
    log.receive({ type: 'left', nickname: 'bob' });
    expect(texts(log)).toEqual(['a', 'b', 'joined ada', 'c', 'left bob']);
    expect(log.historyVersion).toBe(1);
  });

  it('keeps what arrived before the history and is not in it (said while it was read)', () => {
    const log = entered();
    log.receive(message('c'));
    log.receive(history('a', 'b'));
    expect(texts(log)).toEqual(['a', 'b', 'c']);
  });

  it('shows a message once when it is in the history and also arrives after it', () => {
    const log = entered();
    log.receive(history('a', 'b'));
    expect(log.receive(message('b'))).toBe(false);
    log.receive(message('c'));
    expect(texts(log)).toEqual(['a', 'b', 'c']);
  });

  it('after a gap: the history replaces the list; the replayed ones it holds are not repeated, newer ones stay after it', () => {
    const log = entered();
    log.receive(history('a'));
    log.receive({ type: 'joined', nickname: 'ada' });
    log.receive(message('b'));
    log.expectHistory();
    // The broker replays what it kept (older than the history's last, and in it), then live ones.
    for (const text of ['d', 'e', 'f']) log.receive(message(text));
    log.receive(history('a', 'b', 'c', 'd', 'e'));
    expect(texts(log)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(log.historyVersion).toBe(2);
  });

  it('after a gap, drops replayed messages older than the history (it holds the latest only)', () => {
    const log = entered();
    log.receive(history());
    log.expectHistory();
    for (const text of ['m1', 'm2', 'm3', 'm4']) log.receive(message(text));
    log.receive(history('m3', 'm4'));
    expect(texts(log)).toEqual(['m3', 'm4']);
  });

  it('a history that was not due (the server lost Redis) simply replaces the list', () => {
    const log = entered();
    log.receive(history('a'));
    log.receive(message('b'));
    log.receive(history('x'));
    expect(texts(log)).toEqual(['x']);
  });

  it('messages without an id (stored before ids came) are shown as they come', () => {
    const log = entered();
    log.receive({ type: 'history', messages: [message('a', null)] });
    log.receive(message('a', null));
    expect(texts(log)).toEqual(['a', 'a']);
  });

  it(`keeps the last ${MAX_ENTRIES} lines`, () => {
    const log = entered();
    log.receive(history());
    for (let i = 0; i < MAX_ENTRIES + 10; i++) log.receive(message(`m${i}`));
    expect(log.entries).toHaveLength(MAX_ENTRIES);
    expect(texts(log)[0]).toBe('m10');
  });
});
