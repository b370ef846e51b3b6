import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { encodeFrame, encodeTextFrame } from './frame.js';
import type { MaskFunction } from './mask.js';
import { Protocol } from './protocol.js';

// bufferutil is what a Node client plugs in as `maskPayload`; the built-in loop is the reference.
const bufferutil = createRequire(import.meta.url)('bufferutil') as { mask: MaskFunction };
const fixedMask = (m: Uint8Array): void => m.set([0x37, 0xfa, 0x21, 0x3d]);

function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe('maskPayload', () => {
  it.each([0, 1, 63, 64, 65, 125, 126, 1000, 65_535, 65_536, 100_003])(
    'builds the same %i-byte masked frames with bufferutil as with the built-in loop',
    (length) => {
      const payload = bytes(length, length);
      const text = 'é'.repeat(Math.floor(length / 2)) + 'x'.repeat(length % 2);
      const plain = { mask: fixedMask };
      const native = { mask: fixedMask, maskPayload: bufferutil.mask };
      expect(encodeFrame(0x2, payload, native)).toEqual(encodeFrame(0x2, payload, plain));
      expect(encodeTextFrame(text, native)).toEqual(encodeTextFrame(text, plain));
      // An unaligned payload takes the other branch of the built-in loop.
      const unaligned = bytes(length + 1, 7).subarray(1);
      expect(encodeFrame(0x2, unaligned, native)).toEqual(encodeFrame(0x2, unaligned, plain));
    },
  );

  it('is used by a client Protocol for frames of 64 bytes or more, and only those', () => {
    const calls: number[] = [];
    const spy: MaskFunction = (source, mask, output, offset, length) => {
      calls.push(length);
      bufferutil.mask(source, mask, output, offset, length);
    };
    const client = new Protocol({ side: 'client', generateMask: fixedMask, maskPayload: spy });
    const reference = new Protocol({ side: 'client', generateMask: fixedMask });
    for (const p of [client, reference]) {
      p.sendBinary(bytes(10, 1));
      p.sendBinary(bytes(4096, 2));
      p.sendText('y'.repeat(200));
    }
    expect(client.dataToSend()).toEqual(reference.dataToSend());
    expect(calls).toEqual([4096, 200]);
  });
});
