import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { InvalidSettingError } from '../errors.js';

/** Where a request came from, as the application sees it. */
export interface Origin {
  /** The client's IP address: the socket's peer, or what a trusted proxy said it was. */
  readonly remoteAddress: string;
  /** `https` when the request arrived over TLS, directly or (said by a trusted proxy) upstream. */
  readonly protocol: 'http' | 'https';
}

/**
 * Tornado's `xheaders`, with a list of the proxies allowed to use them: a request whose socket
 * peer is one of `trustedProxies` may name the client in `X-Real-Ip` or `X-Forwarded-For` and
 * the scheme in `X-Forwarded-Proto` or `X-Scheme`. From anyone else those headers are ignored,
 * so a client cannot spoof its address by sending them. Without `xheaders`, nobody is trusted.
 */
export class ProxyTrust {
  readonly #trusted: BlockList | null;

  /**
   * `trustedProxies` holds IP addresses and CIDR subnets (`10.0.0.0/8`, `fd00::/8`); an IPv4
   * entry also matches its IPv4-mapped IPv6 form. Throws `InvalidSettingError` for anything else.
   */
  constructor(xheaders: boolean, trustedProxies: readonly string[]) {
    this.#trusted = xheaders ? blockListOf(trustedProxies) : null;
  }

  /** Whether `address` is one of the trusted proxies (never, without `xheaders`). */
  trusts(address: string): boolean {
    if (this.#trusted === null) return false;
    const family = isIP(address);
    return family !== 0 && this.#trusted.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The request's origin, from its socket's peer address, whether the socket is TLS, and its
   * headers (read only when the peer is a trusted proxy).
   *
   * The address is `X-Real-Ip` if it holds an IP address; else `X-Forwarded-For` read from the
   * right, skipping trusted proxies, to the first address that is not one (the leftmost, if all
   * are); else the peer's. A malformed entry stops the walk there: what lies left of it cannot be
   * trusted. The protocol is the last value of `X-Forwarded-Proto` (or `X-Scheme`) if it is
   * `http` or `https`.
   */
  resolve(peer: string, encrypted: boolean, headers: IncomingHttpHeaders): Origin {
    let remoteAddress = peer;
    let protocol: Origin['protocol'] = encrypted ? 'https' : 'http';
    if (!this.trusts(peer)) return { remoteAddress, protocol };
    const realIp = single(headers['x-real-ip']).trim();
    if (isIP(realIp) !== 0) {
      remoteAddress = realIp;
    } else {
      remoteAddress = this.#fromForwardedFor(peer, single(headers['x-forwarded-for']));
    }
    const scheme = lastValue(single(headers['x-forwarded-proto'] ?? headers['x-scheme']));
    if (scheme === 'http' || scheme === 'https') protocol = scheme;
    return { remoteAddress, protocol };
  }

  #fromForwardedFor(peer: string, header: string): string {
    let client = peer;
    const hops = header.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = (hops[i] ?? '').trim();
      if (isIP(hop) === 0) break;
      client = hop;
      if (!this.trusts(hop)) break;
    }
    return client;
  }
}

/** Nobody's headers trusted: the socket says it all. */
export const NO_PROXIES: ProxyTrust = new ProxyTrust(false, []);

function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = slash === -1 ? entry : entry.slice(0, slash);
    const family = isIP(address);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const prefix = slash === -1 ? Number.NaN : Number(entry.slice(slash + 1));
    const maxPrefix = family === 4 ? 32 : 128;
    if (
      family === 0 ||
      (slash !== -1 && !(Number.isInteger(prefix) && prefix >= 0 && prefix <= maxPrefix))
    ) {
      throw new InvalidSettingError(
        `trustedProxies: ${JSON.stringify(entry)} is not an IP address or a CIDR subnet`,
      );
    }
    if (slash === -1) list.addAddress(address, type);
    else list.addSubnet(address, prefix, type);
  }
  return list;
}

function single(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(',') : (value ?? '');
}

function lastValue(header: string): string {
  return (header.split(',').at(-1) ?? '').trim().toLowerCase();
}
