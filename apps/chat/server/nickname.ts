/** The longest nickname, in characters (Unicode code points), after trimming. */
export const MAX_NICKNAME_LENGTH = 24;

/** What `validateNickname` decided: the nickname to use, or why it was refused. */
export type NicknameCheck =
  | { readonly ok: true; readonly nickname: string }
  | { readonly ok: false; readonly reason: string };

// Cc (C0/C1 controls, DEL), Cf (format: bidi overrides, zero-width characters, BOM), and the line
// and paragraph separators: invisible or layout-changing in a list of names, so never part of one.
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * Checks a nickname as typed: surrounding whitespace is trimmed and the rest normalised to NFC,
 * then it must be 1 to 24 characters with no control or format characters. Returns the nickname
 * to register (and to show), or a sentence saying what is wrong, ready for the user.
 */
export function validateNickname(raw: string): NicknameCheck {
  const nickname = raw.trim().normalize('NFC');
  if (nickname === '') return { ok: false, reason: 'Please enter a nickname' };
  if (FORBIDDEN.test(nickname)) {
    return { ok: false, reason: 'Nicknames cannot contain control characters' };
  }
  // Code points, not UTF-16 units: an emoji counts as one character, as the user sees it.
  if ([...nickname].length > MAX_NICKNAME_LENGTH) {
    return {
      ok: false,
      reason: `Nickname too long (max ${MAX_NICKNAME_LENGTH} characters)`,
    };
  }
  return { ok: true, nickname };
}

/**
 * The key nicknames are unique under: NFKC (so a full-width "Ａｄａ" is "Ada") and case folded
 * (lower, upper, then lower case again, which also folds "ß"/"ẞ"/"SS" and the final sigma), so "Ada", "ADA" and
 * "ａｄａ" are one name. Stores index by this; people see the nickname as registered.
 */
export function nicknameKey(nickname: string): string {
  return nickname.normalize('NFKC').toLowerCase().toUpperCase().toLowerCase();
}
