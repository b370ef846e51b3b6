import { describe, expect, it } from 'vitest';
import {
  crossOriginReason,
  decodeXsrfToken,
  encodeXsrfToken,
  newXsrfToken,
  sameXsrfToken,
} from './xsrf.js';

describe('XSRF tokens (Tornado version 2 format)', () => {
  it('masks the same secret differently each time, and both decode to it', () => {
    const token = newXsrfToken(1_700_000_000_123);
    const a = encodeXsrfToken(token);
    const b = encodeXsrfToken(token);
    expect(a).toMatch(/^2\|[0-9a-f]{8}\|[0-9a-f]{32}\|1700000000$/);
    expect(a).not.toBe(b);
    const [da, db] = [decodeXsrfToken(a), decodeXsrfToken(b)];
    expect(da && db && sameXsrfToken(da, db)).toBe(true);
    expect(da?.token.equals(token.token)).toBe(true);
  });

  it('unmasks a version 2 token made by hand (Tornado-made ones: xsrf-tornado test)', () => {
    // The mask 01020304 XOR-ed over the token 00112233445566778899aabbccddeeff, computed by hand.
    const decoded = decodeXsrfToken('2|01020304|0113213745576573899ba9bfcddfedfb|1700000000');
    expect(decoded?.token.toString('hex')).toBe('00112233445566778899aabbccddeeff');
  });

  it('tells two different secrets apart', () => {
    const a = decodeXsrfToken(encodeXsrfToken(newXsrfToken(0)));
    const b = decodeXsrfToken(encodeXsrfToken(newXsrfToken(0)));
    expect(a && b && sameXsrfToken(a, b)).toBe(false);
  });

  it('refuses what is not a token', () => {
    for (const text of [
      undefined,
      '',
      'abc',
      '1|01020304|00112233445566778899aabbccddeeff|1',
      '2|0102030|00112233445566778899aabbccddeeff|1',
      '2|01020304|00112233445566778899aabbccddeef|1',
      '2|01020304|00112233445566778899aabbccddeeff|',
      '2|01020304|00112233445566778899aabbccddeeff|1|x',
      '2|0102030g|00112233445566778899aabbccddeeff|1',
    ]) {
      expect(decodeXsrfToken(text), String(text)).toBeNull();
    }
  });
});

describe('crossOriginReason', () => {
  const host = 'shop.example:8080';

  it('lets same-origin and user-initiated requests through', () => {
    expect(crossOriginReason({ host, 'sec-fetch-site': 'same-origin' }, [])).toBeNull();
    expect(crossOriginReason({ host, 'sec-fetch-site': 'none' }, [])).toBeNull();
    expect(crossOriginReason({ host, origin: 'http://shop.example:8080' }, [])).toBeNull();
    expect(crossOriginReason({ host }, [])).toBeNull();
  });

  it('refuses another port of the same host and other sites', () => {
    expect(
      crossOriginReason(
        { host, 'sec-fetch-site': 'same-site', origin: 'http://shop.example:9999' },
        [],
      ),
    ).toBe('a same-site request (Sec-Fetch-Site) from http://shop.example:9999');
    expect(crossOriginReason({ host, 'sec-fetch-site': 'cross-site' }, [])).toMatch(/cross-site/);
    // Without Sec-Fetch-Site, Origin decides.
    expect(crossOriginReason({ host, origin: 'http://shop.example:9999' }, [])).toBe(
      'a request from http://shop.example:9999',
    );
    expect(crossOriginReason({ host, origin: 'null' }, [])).toBe('a request from null');
  });

  it('lets allowed origins through', () => {
    const allowed = ['https://admin.example'];
    expect(
      crossOriginReason(
        { host, origin: 'https://admin.example', 'sec-fetch-site': 'cross-site' },
        allowed,
      ),
    ).toBeNull();
  });
});
