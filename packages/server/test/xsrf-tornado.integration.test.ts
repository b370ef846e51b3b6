import { spawnSync } from 'node:child_process';
import { assertTornado, PYTHON } from '@gale/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeXsrfToken, encodeXsrfToken, newXsrfToken, sameXsrfToken } from '../src/http/xsrf.js';

// The `_xsrf` token format against Tornado's own code: each reads what the other wrote.

beforeAll(() => {
  assertTornado(); // missing Tornado fails this file, never skips it
});

// Decodes each argv token with Tornado's RequestHandler._decode_xsrf_token, and prints one line
// per token: "<version> <token hex>", then a token Tornado's xsrf_token property would write for
// the secret 00112233445566778899aabbccddeeff (its mask is random, as Tornado's).
const SCRIPT = `
import binascii, os, sys, time
from tornado.web import RequestHandler
from tornado.util import _websocket_mask
for cookie in sys.argv[1:]:
    version, token, _ = RequestHandler._decode_xsrf_token(None, cookie)
    print(version, binascii.b2a_hex(token).decode())
token = bytes.fromhex("00112233445566778899aabbccddeeff")
mask = os.urandom(4)
print("|".join(["2", binascii.b2a_hex(mask).decode(),
                 binascii.b2a_hex(_websocket_mask(mask, token)).decode(), str(int(time.time()))]))
`;

function tornado(tokens: string[]): string[] {
  const run = spawnSync(PYTHON, ['-c', SCRIPT, ...tokens], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`python failed: ${run.stderr}`);
  return run.stdout.trim().split('\n');
}

describe('XSRF tokens and Tornado', () => {
  it('Tornado reads the tokens Gale writes, and Gale reads the ones Tornado writes', () => {
    const secret = newXsrfToken(Date.now());
    const written = [encodeXsrfToken(secret), encodeXsrfToken(secret)];
    const lines = tornado(written);
    const hex = secret.token.toString('hex');
    expect(lines.slice(0, 2)).toEqual([`2 ${hex}`, `2 ${hex}`]);
    const fromTornado = decodeXsrfToken(lines[2]);
    expect(fromTornado?.token.toString('hex')).toBe('00112233445566778899aabbccddeeff');
    const again = decodeXsrfToken(encodeXsrfToken({ token: fromTornado!.token, timestamp: 0 }));
    expect(again !== null && fromTornado !== null && sameXsrfToken(again, fromTornado)).toBe(true);
  });
});
