import { isUtf8 } from 'node:buffer';

// The next byte of a multi-byte sequence must lie in [lo, hi]; `need` counts the bytes still
// expected. The ranges follow RFC 3629 §4 (no overlongs, no surrogates, nothing above U+10FFFF),
// which is what RFC 6455 §8.1 requires of text frames.
const CONT_LO = 0x80;
const CONT_HI = 0xbf;

/**
 * Incremental UTF-8 validator for text messages that arrive in pieces (fragments, or one frame
 * split across network reads). It fails as soon as the bytes seen so far cannot begin a valid
 * message, which is what lets a receiver fail the connection with 1007 before the message ends
 * (RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte
 * stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_").
 *
 * Call {@link Utf8Validator.write} for every piece, then {@link Utf8Validator.end} at the end of the
 * message; call {@link Utf8Validator.reset} before reusing it.
 */
export class Utf8Validator {
  #need = 0;
  #lo = CONT_LO;
  #hi = CONT_HI;

  /** Forget any partial sequence, ready for a new message. */
  reset(): void {
    this.#need = 0;
    this.#lo = CONT_LO;
    this.#hi = CONT_HI;
  }

  /** Validate the next piece. Returns false as soon as the stream so far is invalid. */
  write(data: Uint8Array, start = 0, end: number = data.length): boolean {
    let pos = start;
    // Finish a sequence left open by the previous piece, byte by byte.
    while (this.#need !== 0 && pos < end) {
      if (!this.#step(data[pos]!)) return false;
      pos++;
    }
    if (pos === end) return true;

    // Split off an incomplete sequence at the end: it is checked byte by byte (so that an
    // impossible prefix fails now), and everything before it by the native validator.
    let tail = end;
    let k = end - 1;
    const floor = Math.max(pos, end - 3);
    while (k >= floor && (data[k]! & 0xc0) === 0x80) k--;
    if (k >= floor) {
      const lead = data[k]!;
      const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
      if (end - k < length) tail = k;
    }
    if (tail > pos) {
      const bulk = tail - pos < 16 ? null : data.subarray(pos, tail);
      if (bulk === null) {
        for (let i = pos; i < tail; i++) if (!this.#step(data[i]!)) return false;
        if (this.#need !== 0) return false;
      } else if (!isUtf8(bulk)) {
        return false;
      }
    }
    for (let i = tail; i < end; i++) if (!this.#step(data[i]!)) return false;
    return true;
  }

  /** Whether the message ended on a character boundary. Call after the last {@link write}. */
  end(): boolean {
    return this.#need === 0;
  }

  #step(byte: number): boolean {
    if (this.#need === 0) {
      if (byte < 0x80) return true;
      if (byte >= 0xc2 && byte <= 0xdf) return this.#expect(1, CONT_LO, CONT_HI);
      if (byte === 0xe0) return this.#expect(2, 0xa0, CONT_HI);
      if (byte === 0xed) return this.#expect(2, CONT_LO, 0x9f);
      if (byte >= 0xe1 && byte <= 0xef) return this.#expect(2, CONT_LO, CONT_HI);
      if (byte === 0xf0) return this.#expect(3, 0x90, CONT_HI);
      if (byte >= 0xf1 && byte <= 0xf3) return this.#expect(3, CONT_LO, CONT_HI);
      if (byte === 0xf4) return this.#expect(3, CONT_LO, 0x8f);
      return false;
    }
    if (byte < this.#lo || byte > this.#hi) return false;
    this.#need--;
    this.#lo = CONT_LO;
    this.#hi = CONT_HI;
    return true;
  }

  #expect(need: number, lo: number, hi: number): true {
    this.#need = need;
    this.#lo = lo;
    this.#hi = hi;
    return true;
  }
}

/** Whether `data` is entirely valid UTF-8 (RFC 3629). */
export function isValidUtf8(data: Uint8Array): boolean {
  return data.length === 0 || isUtf8(data);
}
