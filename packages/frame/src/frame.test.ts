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

describe('allocate', () => {
  it('builds masked frames of 64 bytes or more in the buffers it lends, byte for byte the same', () => {
    const sizes: number[] = [];
    const lent: Buffer[] = [];
    const allocate = (size: number): Buffer => {
      sizes.push(size);
      // Stale bytes, as in reused memory: every byte of the frame must be written over.
      const buffer = Buffer.alloc(size, 0xee);
      lent.push(buffer);
      return buffer;
    };
    const client = new Protocol({
      side: 'client',
      generateMask: fixedMask,
      allocateFrame: allocate,
    });
    const reference = new Protocol({ side: 'client', generateMask: fixedMask });
    for (const p of [client, reference]) {
      p.sendBinary(bytes(10, 1)); // under 64 bytes: not lent
      p.sendBinary(bytes(4096, 2));
      p.sendBinary(bytes(70_000, 3).subarray(1)); // unaligned, 8-byte length
      p.sendText('z'.repeat(300));
      p.sendText('short');
    }
    const frames = client.dataToSend();
    expect(frames).toEqual(reference.dataToSend());
    expect(sizes).toEqual([4096 + 8, 69_999 + 14 + ((1 - 14) & 3), 300 + 8]);
    // The frames are the lent memory itself, not copies of it.
    expect(frames[1]!.buffer).toBe(lent[0]!.buffer);
    expect(frames[3]!.buffer).toBe(lent[2]!.buffer);
  });

  it('is not used for a server, whose frames are not masked', () => {
    let calls = 0;
    const server = new Protocol({
      side: 'server',
      allocateFrame: (size) => {
        calls++;
        return Buffer.allocUnsafe(size);
      },
    });
    server.sendBinary(bytes(4096, 1));
    server.sendText('w'.repeat(300));
    expect(server.dataToSend().length).toBeGreaterThan(0);
    expect(calls).toBe(0);
  });
});
