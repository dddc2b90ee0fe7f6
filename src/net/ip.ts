// IP address parsing and normalisation shared by the PROXY reader and the allowlist: one notion of "the client's address".
import ipaddr from 'ipaddr.js';

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

/**
 * The 32-bit value of a strict dotted quad (four decimal parts 0..255, no leading zeros: the form sockets and
 * normaliseIp give), or -1 for any other text. Checked on every connection, so it parses by hand instead of building
 * ipaddr.js objects; anything it refuses takes the general path.
 */
export function ipv4Value(text: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
      continue;
    }
    if (c < 0x30 || c > 0x39 || (digits > 0 && part === 0)) return -1;
    part = part * 10 + (c - 0x30);
    digits++;
    if (part > 255) return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + part;
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
  // A strict dotted quad is already canonical.
  if (ipv4Value(text) >= 0) return text;
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
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
