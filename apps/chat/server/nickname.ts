import unhomoglyph from 'unhomoglyph';

/** The longest nickname, in characters (Unicode code points), after trimming. */
export const MAX_NICKNAME_LENGTH = 24;

/** The most combining marks (accents) in a row on one character. */
export const MAX_STACKED_MARKS = 4;

/**
 * What the page itself shows as a sender: your own messages and notices are "You" ("You
 * joined"), so nobody may be called that (nor anything with the same key: "YOU", "Yоu").
 */
export const RESERVED_NICKNAMES: readonly string[] = ['You'];

/** What `validateNickname` decided: the nickname to use, or why it was refused. */
export type NicknameCheck =
  | { readonly ok: true; readonly nickname: string }
  | { readonly ok: false; readonly reason: string };

// Cc (C0/C1 controls, DEL), Cf (format: bidi overrides, zero-width characters, BOM), and the line
// and paragraph separators: invisible or layout-changing in a list of names, so never part of one.
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

// What shows as nothing: default-ignorable code points (among them the Hangul fillers U+115F,
// U+1160, U+3164, U+FFA0, the combining grapheme joiner, variation selectors) and the braille
// blank U+2800, which is a symbol but an empty one.
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\u2800]/u;

// The variation selectors that ask for an emoji's text or emoji look (☺︎, ❤️), right after an
// emoji, and the keycap of 1️⃣ or #️⃣: how emoji keyboards type them, so not refused as invisible
// or enclosing marks. Removed before those checks only; the nickname keeps them.
const EMOJI_PARTS = /(?<=[#*0-9])\uFE0F?\u20E3|(?<=\p{Emoji})[\uFE0E\uFE0F]/gu;

// Spaces other than U+0020 that survive NFKC (it makes the others, U+00A0, U+2000–U+200A,
// U+3000…, plain spaces), and two spaces in a row (a page shows them as one).
const ODD_SPACING = /(?! )\p{Zs}| {2}/u;

// A combining mark that would draw over the characters around it: the overlays (canonical
// combining class 1: strokes and slashes through a letter, U+0334–U+0338, U+20D2…) and the
// enclosing marks (Me: circles, keycaps, U+20DD…).
const OVERLAY =
  // biome-ignore lint/suspicious/noMisleadingCharacterClass: marks alone, each matched by itself
  /[\u0334-\u0338\u1CD4\u1CE2-\u1CE8\u20D2\u20D3\u20D8-\u20DA\u20E5\u20E6\u20EA\u20EB\u{10A39}\u{16AF0}-\u{16AF4}\u{1BC9E}\u{1D167}-\u{1D169}\p{Me}]/u;

const STACKED_MARKS = new RegExp(`\\p{M}{${MAX_STACKED_MARKS + 1}}`, 'u');

/**
 * Checks a nickname as typed: normalised to NFKC (so "ｆｕｌｌ" is "full", "ﬁ" is "fi") and trimmed,
 * it must be 1 to 24 characters with no control, format or invisible characters, only single
 * plain spaces between words, no combining mark first, none drawn over or around a character,
 * at most 4 on one character, and not a name the page uses itself ("You"). Returns the nickname
 * to register (and to show), or a sentence saying what is wrong, ready for the user.
 */
export function validateNickname(raw: string): NicknameCheck {
  const nickname = raw.normalize('NFKC').trim();
  if (nickname === '') return { ok: false, reason: 'Please enter a nickname' };
  if (FORBIDDEN.test(nickname)) {
    return { ok: false, reason: 'Nicknames cannot contain control characters' };
  }
  const checked = nickname.replace(EMOJI_PARTS, '');
  if (INVISIBLE.test(checked)) {
    return { ok: false, reason: 'Nicknames cannot contain invisible characters' };
  }
  if (ODD_SPACING.test(checked)) {
    return { ok: false, reason: 'Nicknames can only have single, ordinary spaces between words' };
  }
  if (/^\p{M}/u.test(checked)) {
    return { ok: false, reason: 'Nicknames cannot start with an accent or other combining mark' };
  }
  if (OVERLAY.test(checked)) {
    return {
      ok: false,
      reason: 'Nicknames cannot contain marks drawn through or around characters',
    };
  }
  // Counted decomposed: NFKC composes some (a + ◌̀ is à), not others.
  if (STACKED_MARKS.test(checked.normalize('NFD'))) {
    return {
      ok: false,
      reason: `Nicknames cannot stack more than ${MAX_STACKED_MARKS} accents on one character`,
    };
  }
  // Code points, not UTF-16 units: an emoji counts as one character, as the user sees it.
  if ([...nickname].length > MAX_NICKNAME_LENGTH) {
    return {
      ok: false,
      reason: `Nickname too long (max ${MAX_NICKNAME_LENGTH} characters)`,
    };
  }
  if (RESERVED_KEYS.has(nicknameKey(nickname))) {
    return { ok: false, reason: 'This nickname is reserved, please choose another' };
  }
  return { ok: true, nickname };
}

/**
 * The key nicknames are unique under: names that look alike have the same key. It is the
 * Unicode TS #39 skeleton of the case-folded NFKC name, case folded again:
 *
 * - NFKC, so a full-width "Ａｄａ" is "Ada";
 * - case folded (lower, upper, then lower case again, which also folds "ß"/"ẞ"/"SS" and the final
 *   sigma), so "Ada" and "ADA" are one name;
 * - the skeleton: NFD, default-ignorable code points removed, every character replaced by its
 *   prototype in Unicode's confusables.txt (the `unhomoglyph` package's copy), NFD again, so the
 *   Cyrillic "а" is "a", "0" is "O" and "m" is "rn";
 * - case folded again, as some prototypes are capitals ("0" → "O").
 *
 * So "Ada", "ADA", "ａｄａ" and "Аda" (Cyrillic A) are one name. Stores index by this; it is for
 * comparing, never shown: people see the nickname as registered.
 */
export function nicknameKey(nickname: string): string {
  return fold(skeleton(fold(nickname.normalize('NFKC'))));
}

/**
 * Whether two nicknames are the same name, written in another case or width ("Ada", "ADA",
 * "ａｄａ"), rather than two names that merely look alike ("Ada" and "Аda"): equal after NFKC and
 * case folding.
 */
export function isSameNickname(one: string, other: string): boolean {
  return fold(one.normalize('NFKC')) === fold(other.normalize('NFKC'));
}

const RESERVED_KEYS: ReadonlySet<string> = new Set(RESERVED_NICKNAMES.map(nicknameKey));

function fold(text: string): string {
  return text.toLowerCase().toUpperCase().toLowerCase();
}

// UTS #39 §4, skeleton(X).
function skeleton(text: string): string {
  const decomposed = text.normalize('NFD').replace(/\p{Default_Ignorable_Code_Point}/gu, '');
  return unhomoglyph(decomposed).normalize('NFD');
}
