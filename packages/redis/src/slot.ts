// Redis Cluster's key slots: CRC16 (XMODEM) of the key's hash tag, modulo 16384. RedisBroker
// places each topic on the node that owns its slot, to subscribe there.

const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
  TABLE[i] = crc & 0xffff;
}

/**
 * The cluster slot (0–16383) of a key or shard channel name: of its hash tag — the text between
 * the first `{` and the first `}` after it — if that is not empty, else of the whole name.
 */
export function keySlot(name: string): number {
  let bytes = Buffer.from(name, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc & 0x3fff;
}
