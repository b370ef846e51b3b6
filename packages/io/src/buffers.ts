import { Buffer } from 'node:buffer';
import type { Writable } from 'node:stream';

// Memory shared by every connection of the process, for sockets whose reads and writes Gale
// controls end to end (plain TCP sockets the client opened itself). Nothing here is exported as
// mutable state: the two buffers are reached only through these functions.

// Plain TCP sockets read into one buffer shared by every connection of the process (a read and
// its callback run back to back on the event loop, and the protocol parses the whole read before
// the callback returns) instead of Node's default, a fresh 64 KiB buffer per read shrunk to the
// bytes read. Large messages gain most: a 64 KiB message and its header arrive in one read, where
// Node's 64 KiB reads split the frame and the protocol had to join the two parts in a third
// buffer. The protocol reads the buffer as borrowed: text is decoded straight from it, and each
// binary message is copied into a buffer of its exact size (never a slice of a shared pool: a
// message the application keeps must not pin more than itself). An idle connection holds no
// read buffer.
const READ_BUFFER_SIZE = 256 * 1024;
let readBuffer: Buffer | undefined;

/**
 * The process's shared read buffer, for `net.connect({ onread: { buffer } })`. Whatever a read
 * callback finds in it is valid only until the callback returns: parse it with
 * `receiveData(bytes, { borrowed: true })` or copy it.
 */
export function sharedReadBuffer(): Buffer {
  readBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
  return readBuffer;
}

// Outgoing frames of FRAME_BUFFER_MIN bytes up to FRAME_BUFFER_MAX are masked into one buffer
// lent by the process, on plain TCP: a write that the kernel takes whole (nothing left queued in
// Node) hands it back for the next frame. A stream of large messages then allocates nothing per
// message on the way out. A fresh 64 KiB buffer per message, freed in batches after garbage
// collection, made glibc return the heap top to the kernel and fault it back in: in the client
// benchmark's 64 KiB × 50 row, perf put 40% of the client's page faults in masking into those
// buffers (copying what was read was most of the rest). A write that is still queued keeps the
// buffer, and the next frame gets a new one. Smaller frames come from Node's Buffer pool.
const FRAME_BUFFER_MIN = 4096;
const FRAME_BUFFER_MAX = 256 * 1024;
let frameBuffer: Buffer | null = null;
let isFrameBufferLent = false;

/**
 * Where a client protocol builds a masked frame of `size` bytes (`ProtocolOptions.allocateFrame`):
 * the process's frame buffer when it is free and the size fits, else a new buffer. Write the
 * frame at once, then call {@link settleFrameBuffer}.
 */
export function lendFrameBuffer(size: number): Buffer {
  if (isFrameBufferLent || size < FRAME_BUFFER_MIN || size > FRAME_BUFFER_MAX) {
    return Buffer.allocUnsafe(size);
  }
  if (frameBuffer === null || frameBuffer.length < size) frameBuffer = Buffer.allocUnsafeSlow(size);
  isFrameBufferLent = true;
  return frameBuffer.subarray(0, size);
}

/**
 * After the frames built with {@link lendFrameBuffer} were written to `stream`: the buffer is free
 * again unless Node still queues the write (then it stays with that write, and the next frame gets
 * a new one).
 */
export function settleFrameBuffer(stream: Writable): void {
  if (!isFrameBufferLent) return;
  isFrameBufferLent = false;
  if (stream.writableLength !== 0) frameBuffer = null;
}
