// Hand-written readers of address text for the connection path (every accepted socket, every allowlist check), where ipaddr.js's regular expressions and objects cost microseconds.
//
// They read only the plain forms (strict dotted quads, hex groups with an optional `::` and dotted-quad tail) and
// answer `undefined` for anything else, so callers fall back to ipaddr.js and its reading of odd text stays the rule.
// test/net-ip-text.test.ts checks them against ipaddr.js on random addresses.

const DOT = 0x2e;
const COLON = 0x3a;
const ZERO = 0x30;

/** A strict dotted quad (`0`–`255` per part, no leading zeros, as ipaddr's isValidFourPartDecimal) as a uint32; -1 otherwise. */
export function v4Value(text: string, from = 0): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = from; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (digits === 0 || parts === 4) return -1;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else {
      const d = c - ZERO;
      if (d < 0 || d > 9) return -1;
      if (digits > 0 && part === 0) return -1; // a leading zero
      part = part * 10 + d;
      if (part > 255) return -1;
      digits++;
    }
  }
  return parts === 4 ? value : -1;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * The eight 16-bit groups of plain IPv6 text (hex groups, at most one `::`, optionally a dotted-quad tail as the last
 * 32 bits); undefined for anything else (zone ids, brackets, malformed text).
 */
export function v6Groups(text: string): number[] | undefined {
  const head: number[] = [];
  const tail: number[] = [];
  let groups = head;
  let i = 0;
  const n = text.length;
  if (n < 2) return undefined;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return undefined;
    groups = tail;
    i = 2;
    if (i === n) return [0, 0, 0, 0, 0, 0, 0, 0];
  }
  for (;;) {
    // One group (or a dotted-quad tail) starting at i.
    let value = 0;
    let digits = 0;
    let j = i;
    for (; j < n && digits <= 4; j++) {
      const d = hexDigit(text.charCodeAt(j));
      if (d < 0) break;
      value = (value << 4) | d;
      digits++;
    }
    if (j < n && text.charCodeAt(j) === DOT) {
      const quad = v4Value(text, i);
      if (quad < 0) return undefined;
      groups.push(quad >>> 16, quad & 0xffff);
      break;
    }
    if (digits === 0 || digits > 4) return undefined;
    groups.push(value);
    if (j === n) break;
    if (text.charCodeAt(j) !== COLON) return undefined;
    if (j + 1 < n && text.charCodeAt(j + 1) === COLON) {
      if (groups === tail) return undefined; // a second `::`
      groups = tail;
      i = j + 2;
      if (i === n) break;
    } else {
      i = j + 1;
      if (i === n) return undefined; // a trailing single colon
    }
  }
  const compressed = groups === tail;
  const total = head.length + tail.length;
  if (compressed ? total > 7 : total !== 8) return undefined;
  const out = head.slice();
  for (let k = total; k < 8; k++) out.push(0);
  for (const g of tail) out.push(g);
  return out;
}

/** Whether the groups are IPv4-mapped (`::ffff:a.b.c.d`). */
export function isV4Mapped(g: readonly number[]): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

/** The 128-bit value of eight groups. */
export function v6Value(g: readonly number[]): bigint {
  // Four 32-bit words: a double holds 53 bits exactly, so two groups is as far as plain numbers go.
  const w = (k: number) => BigInt(g[k]! * 0x10000 + g[k + 1]!);
  return (w(0) << 96n) | (w(2) << 64n) | (w(4) << 32n) | w(6);
}

/** RFC 5952 text: lower-case hex without leading zeros, the longest run of two or more zero groups (the first of equals) as `::`. */
export function v6Text(g: readonly number[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let k = 0; k < 8; ) {
    if (g[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && g[e] === 0) e++;
    if (e - k > bestLen) {
      bestAt = k;
      bestLen = e - k;
    }
    k = e;
  }
  if (bestAt < 0) return g.map((x) => x.toString(16)).join(':');
  const left = g.slice(0, bestAt).map((x) => x.toString(16)).join(':');
  const right = g.slice(bestAt + bestLen).map((x) => x.toString(16)).join(':');
  return `${left}::${right}`;
}

/** The dotted-quad text of a uint32. */
export function v4Text(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}
