import { describe, expect, it } from 'vitest';
import { parseClientFrame } from '../server/frames.js';
import { nicknameKey, validateNickname } from '../server/nickname.js';
import { decodeSession, encodeSession } from '../server/session.js';

describe('validateNickname', () => {
  it('trims and NFC-normalises what it accepts', () => {
    expect(validateNickname('  Ada Lovelace \t')).toEqual({ ok: true, nickname: 'Ada Lovelace' });
    expect(validateNickname('Cafe\u0301')).toEqual({ ok: true, nickname: 'Café' });
  });

  it('accepts 1 to 24 characters, counted as code points', () => {
    expect(validateNickname('x').ok).toBe(true);
    expect(validateNickname('x'.repeat(24)).ok).toBe(true);
    expect(validateNickname('🦊'.repeat(24)).ok).toBe(true);
    expect(validateNickname('x'.repeat(25))).toEqual({
      ok: false,
      reason: 'Nickname too long (max 24 characters)',
    });
  });

  it.each([
    '\u0000',
    '\u0007',
    '\t',
    '\n',
    '\u007f',
    '\u0085',
    '\u200b',
    '\u200d',
    '\u202e',
    '\ufeff',
    '\u2028',
  ])('refuses U+%s inside a nickname', (character) => {
    expect(validateNickname(`a${character}b`)).toEqual({
      ok: false,
      reason: 'Nicknames cannot contain control characters',
    });
  });

  it('refuses an empty or blank nickname', () => {
    expect(validateNickname('')).toEqual({ ok: false, reason: 'Please enter a nickname' });
    expect(validateNickname(' \u00a0 ')).toEqual({ ok: false, reason: 'Please enter a nickname' });
  });
});

describe('nicknameKey', () => {
  it('folds case and compatibility forms into one key', () => {
    expect(nicknameKey('ADA')).toBe(nicknameKey('ada'));
    expect(nicknameKey('ａｄａ')).toBe(nicknameKey('ada'));
    expect(nicknameKey('STRASSE')).toBe(nicknameKey('straße'));
    expect(nicknameKey('ΟΔΟΣ')).toBe(nicknameKey('οδος'));
    expect(nicknameKey('ada')).not.toBe(nicknameKey('adb'));
  });
});

describe('parseClientFrame', () => {
  it('reads a message frame', () => {
    expect(parseClientFrame('{"type":"message","text":"hi"}')).toEqual({ ok: true, text: 'hi' });
  });

  it('keeps markup as text', () => {
    const xss = '<img src=x onerror=alert(1)>';
    expect(parseClientFrame(JSON.stringify({ type: 'message', text: xss }))).toEqual({
      ok: true,
      text: xss,
    });
  });

  it('allows 2,000 characters and refuses 2,001', () => {
    const frame = (text: string) => JSON.stringify({ type: 'message', text });
    expect(parseClientFrame(frame('a'.repeat(2000))).ok).toBe(true);
    expect(parseClientFrame(frame('😀'.repeat(2000))).ok).toBe(true);
    expect(parseClientFrame(frame('a'.repeat(2001)))).toEqual({
      ok: false,
      reason: 'Message too long (max 2000 characters)',
    });
  });

  it.each([
    ['null', 'Expected a JSON object with a "type"'],
    ['"text"', 'Expected a JSON object with a "type"'],
    ['{}', 'Unknown message type'],
    ['{"type":"join"}', 'Unknown message type'],
    ['{"type":"message","text":null}', 'A message needs a "text" string'],
    ['{"type":"message","text":"\\n"}', 'Message is empty'],
    ['not json', 'Invalid JSON'],
  ])('refuses %s', (raw, reason) => {
    expect(parseClientFrame(raw)).toEqual({ ok: false, reason });
  });
});

describe('session cookie values', () => {
  it('round-trip', () => {
    const session = { nickname: 'Ada', id: 'abc' };
    expect(decodeSession(encodeSession(session))).toEqual(session);
  });

  it.each([
    undefined,
    'Ada',
    '{"nickname":"Ada"}',
    '{"nickname":"","id":"x"}',
    '{"nickname":" Ada ","id":"x"}',
    '{"nickname":"a\\u0000b","id":"x"}',
    '[]',
  ])('reads %s as no session', (value) => {
    expect(decodeSession(value)).toBeNull();
  });
});
