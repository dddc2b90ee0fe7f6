// A set of IPv4/IPv6 CIDRs compiled into sorted, merged ranges, so membership is a binary search however long the list.
import ipaddr from 'ipaddr.js';
import { parseIp, parseIpCidr } from './ip.js';
import { isV4Mapped, v4Value, v6Groups, v6Value } from './ip-text.js';

/** One parsed entry: the text the admin wrote and its normalised form. */
export interface CidrEntry {
  readonly text: string;
  readonly canonical: string;
}

export class CidrParseError extends Error {
  readonly code = 'CIDR_INVALID';
  readonly entry: string;
  constructor(entry: string, reason: string) {
    super(`invalid address or CIDR "${entry}": ${reason}`);
    this.name = 'CidrParseError';
    this.entry = entry;
  }
}

function toBigInt(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** Parses "a.b.c.d", "a.b.c.d/n", "x::y" or "x::y/n"; IPv4-mapped IPv6 ranges become IPv4 ranges. */
export function parseCidr(text: string): { family: 4 | 6; start: bigint; end: bigint; canonical: string } {
  const t = text.trim();
  if (t === '') throw new CidrParseError(text, 'empty');
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let bits: number;
  try {
    if (t.includes('/')) {
      [addr, bits] = parseIpCidr(t);
    } else {
      addr = parseIp(t);
      bits = addr.kind() === 'ipv4' ? 32 : 128;
    }
  } catch (err) {
    throw new CidrParseError(text, (err as Error).message.replace(/^ipaddr: /, ''));
  }
  if (addr.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(t.split('/')[0]!)) {
    throw new CidrParseError(text, 'an IPv4 address needs four decimal parts');
  }
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
    bits -= 96;
  }
  const family = addr.kind() === 'ipv4' ? 4 : 6;
  const width = family === 4 ? 32 : 128;
  const value = toBigInt(addr.toByteArray());
  const hostBits = BigInt(width - bits);
  const start = (value >> hostBits) << hostBits;
  const end = start | ((1n << hostBits) - 1n);
  const canonical = bits === width ? addr.toString() : `${ipaddr.fromByteArray(bytesOf(start, width / 8)).toString()}/${bits}`;
  return { family, start, end, canonical };
}

function bytesOf(v: bigint, n: number): number[] {
  const out = new Array<number>(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Sorted, non-overlapping [start, end] ranges for one address family. */
class RangeTable {
  private starts: bigint[] = [];
  private ends: bigint[] = [];

  constructor(ranges: Array<[bigint, bigint]>) {
    ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [s, e] of ranges) {
      const last = this.ends.length - 1;
      if (last >= 0 && s <= this.ends[last]! + 1n) {
        if (e > this.ends[last]!) this.ends[last] = e;
      } else {
        this.starts.push(s);
        this.ends.push(e);
      }
    }
  }

  has(v: bigint): boolean {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! <= v) {
        if (v <= this.ends[mid]!) return true;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return false;
  }
}

/** An immutable, compiled set of CIDRs. Build once per edit; query on every connection. */
export class CidrSet {
  readonly entries: readonly CidrEntry[];
  private readonly v4: RangeTable;
  private readonly v6: RangeTable;

  /** Throws CidrParseError naming the first invalid entry. */
  constructor(texts: readonly string[]) {
    const v4: Array<[bigint, bigint]> = [];
    const v6: Array<[bigint, bigint]> = [];
    const entries: CidrEntry[] = [];
    for (const text of texts) {
      const r = parseCidr(text);
      (r.family === 4 ? v4 : v6).push([r.start, r.end]);
      entries.push({ text, canonical: r.canonical });
    }
    this.entries = entries;
    this.v4 = new RangeTable(v4);
    this.v6 = new RangeTable(v6);
  }

  get size(): number {
    return this.entries.length;
  }

  /** Whether the address is inside any entry; IPv4-mapped IPv6 is matched as IPv4. Invalid text is never inside. */
  has(address: string): boolean {
    // The plain forms without ipaddr.js (a check is on every connection); it reads everything else.
    const v4 = v4Value(address);
    if (v4 >= 0) return this.v4.has(BigInt(v4));
    const groups = v6Groups(address);
    if (groups) return isV4Mapped(groups) ? this.v4.has(BigInt(((groups[6]! << 16) | groups[7]!) >>> 0)) : this.v6.has(v6Value(groups));
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      addr = parseIp(address);
    } catch {
      return false;
    }
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
    const v = toBigInt(addr.toByteArray());
    return addr.kind() === 'ipv4' ? this.v4.has(v) : this.v6.has(v);
  }
}
