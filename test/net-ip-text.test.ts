// Invariant: the hand-written address readers (src/net/ip-text.ts) agree with ipaddr.js on every text, valid or not: normaliseIp gives what the library path gives, and CidrSet.has answers as ipaddr's own range match does.
// Property-based (fast-check) with a random seed; on failure it prints the seed and the shrunk counterexample (FC_SEED=<seed> to replay).
import t from 'tap';
import fc from 'fast-check';
import type ipaddr from 'ipaddr.js';
import { CidrSet, normaliseIp } from '../src/net/index.js';
import { normaliseByLibrary, parseIp, parseIpCidr } from '../src/net/ip.js';

const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) };

/** Address-like text: real addresses in every spelling fast-check knows, mapped and compatible forms, and near misses. */
const addressText = fc.oneof(
  fc.ipV4(),
  fc.ipV4Extended(),
  fc.ipV6(),
  fc.ipV6().map((s) => s.toUpperCase()),
  fc.ipV4().map((s) => `::ffff:${s}`),
  fc.ipV4().map((s) => `::FFFF:${s}`),
  fc.ipV4().map((s) => `::${s}`),
  fc.ipV4().map((s) => `0:0:0:0:0:ffff:${s}`),
  fc.ipV4().map((s) => `[${s}]`),
  fc.ipV6().map((s) => `[${s}]`),
  fc.stringMatching(/^[0-9a-fA-F:.]{0,41}$/),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.%[]/ x'.split('')), maxLength: 45 }),
);

t.test('normaliseIp agrees with the ipaddr.js path', async (tt) => {
  const r = fc.check(
    fc.property(addressText, (text) => {
      const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
      return normaliseIp(text) === normaliseByLibrary(bare);
    }),
    { numRuns: 20_000, ...seed },
  );
  if (r.failed) tt.fail(fc.defaultReportMessage(r) ?? "property failed");
  else tt.pass(`${r.numRuns} texts read alike`);
});

t.test('the plain forms do not reach the library', async (tt) => {
  // Spot checks of what the fast path answers by itself (these equal the library's answers, checked above).
  tt.equal(normaliseIp('203.0.113.7'), '203.0.113.7');
  tt.equal(normaliseIp('::ffff:203.0.113.7'), '203.0.113.7');
  tt.equal(normaliseIp('::203.0.113.7'), '::cb00:7107', 'IPv4-compatible stays IPv6');
  tt.equal(normaliseIp('FDAA:0:1:0:0:0:0:2'), 'fdaa:0:1::2');
  tt.equal(normaliseIp('1:0:0:2:0:0:0:3'), '1:0:0:2::3', 'the longest zero run is compressed');
  tt.equal(normaliseIp('1:0:0:2:0:0:3:4'), '1::2:0:0:3:4', 'the first of equal runs');
  tt.equal(normaliseIp('1:2:3:4:5:6:0:8'), '1:2:3:4:5:6:0:8', 'one zero group is not compressed');
  tt.equal(normaliseIp('010.0.0.1'), normaliseByLibrary('010.0.0.1'));
  tt.equal(normaliseIp('1.2.3.256'), undefined);
  tt.equal(normaliseIp('1::2::3'), undefined);
});

/** ipaddr's own answer: the address (unmapped) inside any entry's range. */
function libraryHas(entries: string[], address: string): boolean {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = parseIp(address);
  } catch {
    return false;
  }
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  return entries.some((e) => {
    let [net, bits] = e.includes('/') ? parseIpCidr(e) : [parseIp(e), -1];
    if (net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress() && (bits === -1 || bits >= 96)) {
      net = (net as ipaddr.IPv6).toIPv4Address();
      if (bits >= 0) bits -= 96;
    }
    if (bits === -1) bits = net.kind() === 'ipv4' ? 32 : 128;
    return net.kind() === addr.kind() && addr.match(net as never, bits);
  });
}

t.test('CidrSet.has agrees with ipaddr.js range matching', async (tt) => {
  const entry = fc.oneof(
    fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, b]) => `${a}/${b}`),
    fc.ipV4(),
    fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([a, b]) => `${a}/${b}`),
    fc.ipV6(),
    fc.tuple(fc.ipV4(), fc.integer({ min: 96, max: 128 })).map(([a, b]) => `::ffff:${a}/${b}`),
  );
  const r = fc.check(
    fc.property(fc.array(entry, { minLength: 0, maxLength: 6 }), fc.array(addressText, { minLength: 1, maxLength: 8 }), (entries, addresses) => {
      const set = new CidrSet(entries);
      // Addresses inside the entries too, not only random ones that rarely hit a range.
      const probes = [...addresses, ...entries.map((e) => e.split('/')[0]!)];
      return probes.every((a) => set.has(a) === libraryHas(entries, a));
    }),
    { numRuns: 3_000, ...seed },
  );
  if (r.failed) tt.fail(fc.defaultReportMessage(r) ?? "property failed");
  else tt.pass(`${r.numRuns} lists checked alike`);
});
