// IP address parsing and normalisation shared by the PROXY reader and the allowlist: one notion of "the client's address".
import ipaddr from 'ipaddr.js';
import { isV4Mapped, v4Text, v4Value, v6Groups, v6Text } from './ip-text.js';

/**
 * Rewrites a dotted-quad tail of IPv6 text (`::203.0.113.7`, `64:ff9b::198.51.100.1`) as two hex groups.
 * ipaddr.js reads the IPv4-compatible form `::a.b.c.d` as IPv4-mapped `::ffff:a.b.c.d`; RFC 4291 (2.5.5) says they
 * are different addresses, and only the mapped one is an IPv4 client. Other text is returned unchanged.
 */
function hexTail(text: string): string {
  const colon = text.lastIndexOf(':');
  if (colon < 0 || !text.includes('.', colon)) return text;
  const quad = text.slice(colon + 1);
  if (!ipaddr.IPv4.isValidFourPartDecimal(quad)) return text; // let ipaddr refuse it
  const b = ipaddr.IPv4.parse(quad).toByteArray();
  return `${text.slice(0, colon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
}

/** Parses an IPv4 or IPv6 address (no brackets); IPv6 stays IPv6 unless the caller unmaps it. Throws like ipaddr.parse. */
export function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 {
  return ipaddr.parse(hexTail(text));
}

/** Parses "address/bits" like ipaddr.parseCIDR, with parseIp's reading of the address. */
export function parseIpCidr(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  const slash = text.indexOf('/');
  return ipaddr.parseCIDR(slash < 0 ? text : `${hexTail(text.slice(0, slash))}${text.slice(slash)}`);
}

/**
 * The canonical text form of an address: IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes a.b.c.d; every other IPv6
 * address (the IPv4-compatible ::a.b.c.d included) stays IPv6, compressed and lower-case. Returns undefined for
 * text that is not an address.
 */
export function normaliseIp(text: string): string | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  // The plain forms (nearly every socket and PROXY address) without ipaddr.js; it decides everything else.
  if (v4Value(bare) >= 0) return bare;
  const groups = v6Groups(bare);
  if (groups) return isV4Mapped(groups) ? v4Text(((groups[6]! << 16) | groups[7]!) >>> 0) : v6Text(groups);
  return normaliseByLibrary(bare);
}

/** normaliseIp through ipaddr.js alone, for text without brackets: the rule the fast readers must agree with. */
export function normaliseByLibrary(bare: string): string | undefined {
  const hex = hexTail(bare);
  if (!ipaddr.isValid(hex)) return undefined;
  // ipaddr.isValid accepts shorthand like "10.1" (classful); only strict dotted quads are real client addresses.
  if (!hex.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(hex)) return undefined;
  const addr = ipaddr.parse(hex);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (addr as ipaddr.IPv6).toIPv4Address().toString();
  }
  return addr.toString();
}

export function ipFamily(normalised: string): 4 | 6 {
  return normalised.includes(':') ? 6 : 4;
}
