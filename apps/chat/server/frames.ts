import type { ChatMessage } from './history.js';

/**
 * The topic every socket of the room subscribes to: messages and joined/left notices. The page
 * names it too, to know which topic a gale.v1 `gap` event is about.
 */
export const ROOM_TOPIC = 'chat:room';

/** The longest chat message accepted, in characters (Unicode code points). */
export const MAX_MESSAGE_LENGTH = 2000;

/**
 * The close codes of /chat besides RFC 6455's (application codes, 4000–4999): the server closes
 * a tab's socket with them, and the page reads them to know it must not reconnect.
 */
export const ChatCloseCode = {
  /** The session logged out, in this tab or another, on any instance: back to the login form. */
  LOGGED_OUT: 4001,
  /**
   * The session's nickname now belongs to someone else (possible only after the shared store
   * forgot it: Redis restarted empty and someone claimed it first): log in again.
   */
  NICKNAME_LOST: 4002,
} as const;

/** One of {@link ChatCloseCode}. */
export type ChatCloseCode = (typeof ChatCloseCode)[keyof typeof ChatCloseCode];

/** What the server sends on /chat, as JSON text frames. */
export type ServerFrame =
  | { readonly type: 'history'; readonly messages: readonly ChatMessage[] }
  | ChatMessage
  | { readonly type: 'joined'; readonly nickname: string }
  | { readonly type: 'left'; readonly nickname: string }
  | { readonly type: 'error'; readonly reason: string };

/**
 * A client frame understood (`text` to post, or `history`: the tab asks for the history again),
 * or why it was refused (sent back as an error).
 */
export type ClientFrame =
  | { readonly ok: true; readonly type: 'message'; readonly text: string }
  | { readonly ok: true; readonly type: 'history' }
  | { readonly ok: false; readonly reason: string };

/**
 * Reads a frame from a client: `{"type":"message","text":"…"}`, with a text that is not blank
 * and at most `MAX_MESSAGE_LENGTH` characters, and `{"type":"history"}`. Anything else gives a
 * reason for an error frame; the connection stays open.
 */
export function parseClientFrame(message: string | Uint8Array): ClientFrame {
  if (typeof message !== 'string') {
    return { ok: false, reason: 'Binary messages are not supported; send JSON text' };
  }
  let data: unknown;
  try {
    data = JSON.parse(message);
  } catch {
    return { ok: false, reason: 'Invalid JSON' };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { ok: false, reason: 'Expected a JSON object with a "type"' };
  }
  const { type, text } = data as Record<string, unknown>;
  if (type === 'history') return { ok: true, type: 'history' };
  if (type !== 'message') return { ok: false, reason: 'Unknown message type' };
  if (typeof text !== 'string') return { ok: false, reason: 'A message needs a "text" string' };
  if (text.trim() === '') return { ok: false, reason: 'Message is empty' };
  // Code points, as the user counts; cheap first test on UTF-16 length, which is never smaller.
  if (text.length > MAX_MESSAGE_LENGTH && [...text].length > MAX_MESSAGE_LENGTH) {
    return { ok: false, reason: `Message too long (max ${MAX_MESSAGE_LENGTH} characters)` };
  }
  return { ok: true, type: 'message', text };
}
