import { describe, expect, it } from 'vitest';
import { parseClientFrame } from '../server/frames.js';
import { isSameNickname, nicknameKey, validateNickname } from '../server/nickname.js';
import { decodeSession, encodeSession } from '../server/session.js';

describe('validateNickname', () => {
  it('trims and NFKC-normalises what it accepts', () => {
    expect(validateNickname('  Ada Lovelace \t')).toEqual({ ok: true, nickname: 'Ada Lovelace' });
    expect(validateNickname('Cafe\u0301')).toEqual({ ok: true, nickname: 'Café' });
    expect(validateNickname('Ａｄａ')).toEqual({ ok: true, nickname: 'Ada' });
    expect(validateNickname('\ufb01sh')).toEqual({ ok: true, nickname: 'fish' });
    // Other spaces are plain ones after NFKC, so a single one between words is fine.
    expect(validateNickname('Ada\u2003Lovelace')).toEqual({ ok: true, nickname: 'Ada Lovelace' });
    expect(validateNickname('Ada\u00a0Lovelace')).toEqual({ ok: true, nickname: 'Ada Lovelace' });
  });

  it.each([
    'Ada Lovelace',
    'Zoë',
    'José María',
    'Łukasz',
    'Nguyễn Ngọc Ánh',
    'Ελένη',
    'Анна',
    'שלום',
    'محمد',
    'हिन्दी',
    'ไทย',
    '李小龙',
    'さくら',
    '김민준',
    '🦊',
    '❤️ Ada',
    '☺︎',
    '1️⃣ Ada',
    '👍🏽',
    'Youssef',
    'Yours truly',
    'x\u0300\u0301\u0302\u0303',
  ])('accepts %s as it is', (nickname) => {
    expect(validateNickname(nickname)).toEqual({ ok: true, nickname });
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

  const INVISIBLE = 'Nicknames cannot contain invisible characters';
  const SPACING = 'Nicknames can only have single, ordinary spaces between words';
  const LEADING_MARK = 'Nicknames cannot start with an accent or other combining mark';
  const OVERLAY = 'Nicknames cannot contain marks drawn through or around characters';
  const STACKED = 'Nicknames cannot stack more than 4 accents on one character';
  const RESERVED = 'This nickname is reserved, please choose another';

  it.each([
    ['a trailing Hangul filler (U+3164)', 'Ada\u3164', INVISIBLE],
    ['only a Hangul filler', '\u3164', INVISIBLE],
    ['a Hangul choseong filler (U+115F)', 'Ada\u115f', INVISIBLE],
    ['a Hangul jungseong filler (U+1160)', '\u1160Ada', INVISIBLE],
    ['a half-width Hangul filler (U+FFA0)', 'A\uffa0da', INVISIBLE],
    ['the braille blank (U+2800)', 'Ada\u2800', INVISIBLE],
    ['only the braille blank', '\u2800', INVISIBLE],
    ['a combining grapheme joiner (U+034F)', 'A\u034fda', INVISIBLE],
    ['a variation selector after a letter', 'Ada\ufe0f', INVISIBLE],
    ['a Mongolian free variation selector', 'Ada\u180b', INVISIBLE],
    ['two spaces in a row', 'Ada  Lovelace', SPACING],
    ['two em spaces in a row', 'Ada\u2003\u2003Lovelace', SPACING],
    ['an Ogham space mark', 'Ada\u1680Lovelace', SPACING],
    ['only a combining mark', '\u0301', LEADING_MARK],
    ['only combining marks', '\u0301\u0302\u0303', LEADING_MARK],
    ['a combining mark first', '\u0308Ada', LEADING_MARK],
    ['a long stroke overlay (U+0336)', 'A\u0336da', OVERLAY],
    ['a long stroke overlay on every letter', 'A\u0336d\u0336a\u0336', OVERLAY],
    ['a long solidus overlay (U+0338)', 'Ada\u0338', OVERLAY],
    ['a vertical line overlay (U+20D2)', 'A\u20d2da', OVERLAY],
    ['an enclosing circle (U+20DD)', 'Ada\u20dd', OVERLAY],
    ['an enclosing keycap on a letter', 'A\u20e3', OVERLAY],
    ['five accents on one letter', 'x\u0300\u0301\u0302\u0303\u0304', STACKED],
    ['five accents on one letter, some composed', 'a\u0300\u0301\u0302\u0303\u0304', STACKED],
    ['the name the page uses for you', 'You', RESERVED],
    ['"You" in capitals', 'YOU', RESERVED],
    ['"You" in full-width letters', 'Ｙｏｕ', RESERVED],
    ['"You" with a Cyrillic o', 'Y\u043eu', RESERVED],
    ['"You" with a zero', 'Y0U', RESERVED],
  ])('refuses a nickname with %s', (_, nickname, reason) => {
    expect(validateNickname(nickname)).toEqual({ ok: false, reason });
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

  it('gives names that look alike one key (UTS #39 skeletons)', () => {
    // Cyrillic А (U+0410) and а (U+0430), о (U+043E), р (U+0440), у (U+0443).
    expect(nicknameKey('\u0410da')).toBe(nicknameKey('Ada'));
    expect(nicknameKey('\u0430d\u0430')).toBe(nicknameKey('ADA'));
    expect(nicknameKey('\u0440\u0430\u0443\u0440al')).toBe(nicknameKey('paypal'));
    // Greek Ο (U+039F), digits that look like letters, "rn" that looks like "m".
    expect(nicknameKey('B\u039fB')).toBe(nicknameKey('bob'));
    expect(nicknameKey('B0b')).toBe(nicknameKey('Bob'));
    expect(nicknameKey('Bi11')).toBe(nicknameKey('Bill'));
    expect(nicknameKey('Ernrna')).toBe(nicknameKey('Emma'));
    // Composed or not, with an emoji's variation selector or not.
    expect(nicknameKey('Cafe\u0301')).toBe(nicknameKey('Café'));
    expect(nicknameKey('\u2764\ufe0f')).toBe(nicknameKey('\u2764'));
  });

  it('keeps names that only share letters apart', () => {
    expect(nicknameKey('Café')).not.toBe(nicknameKey('Cafe'));
    expect(nicknameKey('Zoë')).not.toBe(nicknameKey('Zoe'));
    expect(nicknameKey('Ada Lovelace')).not.toBe(nicknameKey('AdaLovelace'));
    expect(nicknameKey('Анна')).not.toBe(nicknameKey('Ada'));
  });
});

describe('isSameNickname', () => {
  it('is the same name in another case or width, not a look-alike', () => {
    expect(isSameNickname('Ada', 'ADA')).toBe(true);
    expect(isSameNickname('Ada', 'ａｄａ')).toBe(true);
    expect(isSameNickname('Ada', '\u0410da')).toBe(false);
    expect(isSameNickname('Bob', 'B0b')).toBe(false);
  });
});

describe('parseClientFrame', () => {
  it('reads a message frame', () => {
    expect(parseClientFrame('{"type":"message","text":"hi"}')).toEqual({
      ok: true,
      type: 'message',
      text: 'hi',
    });
  });

  it('reads a request for the history', () => {
    expect(parseClientFrame('{"type":"history"}')).toEqual({ ok: true, type: 'history' });
  });

  it('keeps markup as text', () => {
    const xss = '<img src=x onerror=alert(1)>';
    expect(parseClientFrame(JSON.stringify({ type: 'message', text: xss }))).toEqual({
      ok: true,
      type: 'message',
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
