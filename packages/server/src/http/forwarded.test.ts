import { describe, expect, it } from 'vitest';
import { InvalidSettingError } from '../errors.js';
import { NO_PROXIES, ProxyTrust } from './forwarded.js';

const LOOPBACK = ['127.0.0.0/8', '::1'];

describe('ProxyTrust (xheaders with trusted proxies)', () => {
  const trust = new ProxyTrust(true, ['10.0.0.0/8', '192.0.2.7', 'fd00::/8']);

  it('believes a trusted proxy: X-Forwarded-For read from the right past trusted hops', () => {
    const origin = trust.resolve('10.1.2.3', false, {
      'x-forwarded-for': '198.51.100.9, 203.0.113.5, 10.9.9.9, 192.0.2.7',
      'x-forwarded-proto': 'https',
    });
    // 192.0.2.7 and 10.9.9.9 are proxies; 203.0.113.5 is the first that is not: the client.
    // What lies left of it was written by the client and cannot be believed.
    expect(origin).toEqual({ remoteAddress: '203.0.113.5', protocol: 'https' });
  });

  it('prefers X-Real-Ip, as Tornado', () => {
    const origin = trust.resolve('10.1.2.3', false, {
      'x-real-ip': '198.51.100.1',
      'x-forwarded-for': '203.0.113.5',
    });
    expect(origin.remoteAddress).toBe('198.51.100.1');
  });

  it('ignores every header from a peer it does not trust', () => {
    const origin = trust.resolve('203.0.113.66', false, {
      'x-real-ip': '198.51.100.1',
      'x-forwarded-for': '198.51.100.2',
      'x-forwarded-proto': 'https',
    });
    expect(origin).toEqual({ remoteAddress: '203.0.113.66', protocol: 'http' });
  });

  it('trusts nobody without xheaders, even listed proxies', () => {
    const off = new ProxyTrust(false, ['10.0.0.0/8']);
    expect(off.trusts('10.1.2.3')).toBe(false);
    expect(off.resolve('10.1.2.3', false, { 'x-forwarded-for': '198.51.100.2' })).toEqual({
      remoteAddress: '10.1.2.3',
      protocol: 'http',
    });
    expect(NO_PROXIES.trusts('127.0.0.1')).toBe(false);
  });

  it('stops at a malformed hop and keeps the last address it could believe', () => {
    const origin = trust.resolve('10.1.2.3', false, {
      'x-forwarded-for': '198.51.100.9, not-an-ip, 10.4.4.4',
    });
    expect(origin.remoteAddress).toBe('10.4.4.4');
    expect(trust.resolve('10.1.2.3', false, { 'x-real-ip': 'evil' }).remoteAddress).toBe(
      '10.1.2.3',
    );
  });

  it('takes the scheme from the last X-Forwarded-Proto value, or X-Scheme, if http or https', () => {
    expect(trust.resolve('10.0.0.1', false, { 'x-forwarded-proto': 'http, https' }).protocol).toBe(
      'https',
    );
    expect(trust.resolve('10.0.0.1', false, { 'x-scheme': 'HTTPS' }).protocol).toBe('https');
    expect(trust.resolve('10.0.0.1', true, { 'x-forwarded-proto': 'gopher' }).protocol).toBe(
      'https',
    );
    expect(trust.resolve('10.0.0.1', true, { 'x-forwarded-proto': 'http' }).protocol).toBe('http');
  });

  it('matches IPv4-mapped IPv6 peers and IPv6 subnets', () => {
    const local = new ProxyTrust(true, LOOPBACK);
    expect(local.trusts('::ffff:127.0.0.1')).toBe(true);
    expect(local.trusts('::1')).toBe(true);
    expect(local.trusts('::2')).toBe(false);
    expect(trust.trusts('fd12:3456::1')).toBe(true);
    expect(trust.trusts('fe80::1')).toBe(false);
  });

  it('refuses a setting that is not an address or a subnet', () => {
    for (const entry of ['localhost', '10.0.0.0/33', '10.0.0.0/x', '::1/129', '']) {
      expect(() => new ProxyTrust(true, [entry]), entry).toThrow(InvalidSettingError);
    }
  });
});
