import { Buffer } from 'node:buffer';
import { CloseCode, isValidCloseCode } from './close-code.js';
import { InvalidArgumentError, ProtocolError } from './errors.js';
import { isValidUtf8 } from './utf8.js';

/** The status a Close frame carried: `code` 1005 (`NO_STATUS_RCVD`) when it had no payload. */
export interface CloseStatus {
  readonly code: number;
  readonly reason: string;
}

/** What a close reason may be given as: a string, or bytes that are valid UTF-8. */
export type CloseReason = string | ArrayBufferView;

/**
 * Parses the payload of a received Close frame (RFC 6455 §5.5.1). Throws `ProtocolError`: 1002
 * for a 1-byte payload or a code that may not be sent (§7.4), 1007 for a reason that is not
 * UTF-8 (§5.5.1: the body "is not guaranteed to be human readable" but MUST be UTF-8).
 */
export function parseClose(payload: Uint8Array): CloseStatus {
  if (payload.length === 0) return { code: CloseCode.NO_STATUS_RCVD, reason: '' };
  if (payload.length === 1) {
    throw new ProtocolError('ERR_INVALID_CLOSE_PAYLOAD', 'close frame with a 1-byte payload');
  }
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidCloseCode(code)) {
    throw new ProtocolError('ERR_INVALID_CLOSE_CODE', `invalid close code ${code}`);
  }
  const reasonBytes = payload.subarray(2);
  if (!isValidUtf8(reasonBytes)) {
    throw new ProtocolError(
      'ERR_INVALID_UTF8',
      'close reason is not valid UTF-8',
      CloseCode.INVALID_PAYLOAD_DATA,
    );
  }
  return { code, reason: Buffer.from(reasonBytes).toString('utf8') };
}

/**
 * Builds the payload of a Close frame. With no code the payload is empty (the peer then reports
 * 1005); a reason without a code means 1000. Throws `InvalidArgumentError` for a code that may
 * not be sent (1005, 1006, 1015, out of range: §7.4.1), a reason that is not UTF-8, or a reason
 * over 123 bytes (§5.5: control payloads are at most 125 bytes, two of them the code).
 *
 * A reason given as a typed array is copied byte for byte from its own view (`byteOffset`,
 * `byteLength`), never from the rest of its buffer, so no unrelated memory reaches the wire.
 */
export function serializeClose(code?: number, reason: CloseReason = ''): Uint8Array {
  const reasonBytes =
    typeof reason === 'string'
      ? Buffer.from(reason, 'utf8')
      : new Uint8Array(reason.buffer, reason.byteOffset, reason.byteLength);
  if (code === undefined) {
    if (reasonBytes.length === 0) return new Uint8Array(0);
    code = CloseCode.NORMAL_CLOSURE;
  }
  if (!Number.isInteger(code) || !isValidCloseCode(code)) {
    throw new InvalidArgumentError(`close code ${code} may not be sent`);
  }
  if (reasonBytes.length > 123) {
    throw new InvalidArgumentError('close reason must be at most 123 bytes of UTF-8');
  }
  if (typeof reason !== 'string' && !isValidUtf8(reasonBytes)) {
    throw new InvalidArgumentError('close reason must be valid UTF-8');
  }
  const payload = new Uint8Array(2 + reasonBytes.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(reasonBytes, 2);
  return payload;
}
