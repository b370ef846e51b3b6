/** Frame opcodes from RFC 6455 §5.2. 0x3–0x7 and 0xB–0xF are reserved. */
export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** One of the opcodes defined by RFC 6455. */
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Whether `opcode` is a control opcode (§5.5: the most significant bit of the opcode is 1). */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}
