import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HandshakeError } from './errors.js';
import { findHeadEnd, parseRequestHead } from './request-head.js';

// CI runs at least 10,000 cases per property (the bar); locally a quicker pass.
const NUM_RUNS = process.env['CI'] ? 10_000 : 1_000;

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const token = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 });
const ows = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 3 });
// field-vchar: visible ASCII and obs-text; SP and HTAB only between them.
const vchar = fc
  .oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
  .map((code) => String.fromCharCode(code));
const fieldValue = fc
  .array(fc.tuple(fc.string({ unit: vchar, minLength: 1, maxLength: 8 }), ows), { maxLength: 4 })
  .map((parts) =>
    parts.map(([text, space], i) => (i < parts.length - 1 ? text + (space || ' ') : text)).join(''),
  );
const target = fc
  .string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)) })
  .map((rest) => `/${rest}`);

interface Field {
  readonly name: string;
  readonly before: string;
  readonly value: string;
  readonly after: string;
}

const field: fc.Arbitrary<Field> = fc.record({
  // Distinct from Host and the fields node:http keeps once, whose rules have their own tests.
  name: token.map((name) => `x-${name}`),
  before: ows,
  value: fieldValue,
  after: ows,
});

/** The headers node:http would give for these lines (joined with `, `, names in lower case). */
function model(fields: readonly Field[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const { name, value } of fields) {
    const key = name.toLowerCase();
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  }
  return headers;
}

function headOf(method: string, path: string, fields: readonly Field[]): Buffer {
  const lines = fields.map((f) => `${f.name}:${f.before}${f.value}${f.after}\r\n`).join('');
  return Buffer.from(`${method} ${path} HTTP/1.1\r\n${lines}\r\n`, 'latin1');
}

describe('parseRequestHead (properties)', () => {
  it('reads every valid head as node:http would, however it is split', () => {
    fc.assert(
      fc.property(
        token,
        target,
        fc.array(field, { maxLength: 12 }),
        fc.uint8Array({ maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (method, path, fields, after, cuts) => {
          const head = headOf(method, path, fields);
          const bytes = Buffer.concat([head, after]);
          const parsed = parseRequestHead(bytes);
          expect(parsed).toBeDefined();
          expect(parsed!.method).toBe(method);
          expect(parsed!.target).toBe(path);
          expect({ ...parsed!.headers }).toEqual(model(fields));
          expect(parsed!.end).toBe(head.length);
          // Read in pieces, resuming the scan where the last piece ended: the same end.
          const points = [...new Set(cuts.map((cut) => cut % bytes.length))].sort((a, b) => a - b);
          let from = 0;
          let end = -1;
          for (const length of [...points, bytes.length]) {
            if (end !== -1) break;
            end = findHeadEnd(bytes, from, length);
            from = length;
          }
          expect(end).toBe(head.length);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('never throws anything but a 400 HandshakeError, and never yields a control in a value', () => {
    const valid = headOf('GET', '/chat', [
      { name: 'Host', before: ' ', value: 'example.com', after: '' },
      { name: 'Upgrade', before: ' ', value: 'websocket', after: '' },
    ]);
    // Random bytes, and the valid head with random bytes written over some of it.
    const mutated = fc
      .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 })
      .map((edits) => {
        const bytes = Buffer.from(valid);
        for (const [at, byte] of edits) bytes[at % bytes.length] = byte;
        return bytes;
      });
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 200 }).map(Buffer.from), mutated),
        (bytes) => {
          let parsed: ReturnType<typeof parseRequestHead>;
          try {
            parsed = parseRequestHead(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(HandshakeError);
            expect((error as HandshakeError).status).toBe(400);
            return;
          }
          if (parsed === undefined) return;
          for (const [name, value] of Object.entries(parsed.headers)) {
            expect(name).toMatch(/^[!#$%&'*+\-.^_`|~0-9a-z]+$/);
            for (const text of Array.isArray(value) ? value : [value ?? '']) {
              expect([...text].some((c) => (c < ' ' && c !== '\t') || c === '\x7f')).toBe(false);
              expect(text).not.toMatch(/^[ \t]|[ \t]$/);
            }
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});
