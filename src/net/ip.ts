// IP address parsing and normalisation shared by the PROXY reader and the allowlist: one notion of "the client's address".
import ipaddr from 'ipaddr.js';

/**
 * The canonical text form of an address: IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes a.b.c.d,
 * IPv6 is compressed and lower-case. Returns undefined for text that is not an address.
 */
export function normaliseIp(text: string): string | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (!ipaddr.isValid(bare)) return undefined;
  // ipaddr.isValid accepts shorthand like "10.1" (classful); only strict dotted quads are real client addresses.
  if (!bare.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(bare)) return undefined;
  const addr = ipaddr.parse(bare);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (addr as ipaddr.IPv6).toIPv4Address().toString();
  }
  return addr.toString();
}

export function ipFamily(normalised: string): 4 | 6 {
  return normalised.includes(':') ? 6 : 4;
}
