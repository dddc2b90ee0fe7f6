// Decoder tests: valid v1/v2 headers decode to the expected addresses, and each proxy-protocol-js defect is contained.
import t from 'tap';
import proxyProtocol from 'proxy-protocol-js';
import { ClientError } from '../src/errors.js';
import { decodeProxyHeader, describeTlvs, parseTlvs } from '../src/proxy/proxy-header-decode.js';
import { V2_SIGNATURE, v2, tlv, IPV4_BLOCK, IPV6_BLOCK, MAPPED_BLOCK } from './fixtures/proxy-headers.js';

const { V1BinaryProxyProtocol, V2ProxyProtocol } = proxyProtocol;

const v1 = (line: string) => Buffer.from(`${line}\r\n`, 'latin1');

function invalid(message: RegExp): { name: string; code: string; message: RegExp } {
  return { name: 'ClientError', code: 'PROXY_HEADER_INVALID', message };
}
/** Runs the library the way the decoder would, returning what it throws instead of throwing. */
function libraryThrows(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

t.test('v1 TCP4 and TCP6 decode to source and destination', async (t) => {
  t.same(decodeProxyHeader(v1('PROXY TCP4 192.0.2.1 198.51.100.2 51234 5432')), {
    version: 1,
    command: 'proxy',
    family: 'inet',
    source: { address: '192.0.2.1', port: 51234 },
    destination: { address: '198.51.100.2', port: 5432 },
    tlvs: [],
  });
  t.same(decodeProxyHeader(v1('PROXY TCP6 2001:DB8:0:0:0:0:0:1 2001:db8::2 0 65535')), {
    version: 1,
    command: 'proxy',
    family: 'inet6',
    source: { address: '2001:db8::1', port: 0 },
    destination: { address: '2001:db8::2', port: 65535 },
    tlvs: [],
  });
  const mapped = decodeProxyHeader(v1('PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2'));
  t.equal(mapped.source?.address, '192.0.2.1', 'IPv4-mapped IPv6 source normalised to IPv4');
});

t.test('defect (d): PROXY UNKNOWN, which the library rejects, decodes with no address', async (t) => {
  for (const line of ['PROXY UNKNOWN', 'PROXY UNKNOWN ffff:f::1 ffff:f::2 65535 65535', 'PROXY UNKNOWN anything at all']) {
    t.ok(libraryThrows(() => V1BinaryProxyProtocol.parse(v1('PROXY UNKNOWN'))), 'library still rejects bare UNKNOWN');
    const h = decodeProxyHeader(v1(line));
    t.same(h, { version: 1, command: 'proxy', family: 'unspec', tlvs: [] }, line);
    t.notOk('source' in h, `${line}: no source, so the reader uses the peer address`);
  }
  t.throws(() => decodeProxyHeader(v1('PROXY UNKNOWNX')), invalid(/v1/), 'UNKNOWN must be followed by a space or CRLF');
});

t.test('defect (c): the library accepts out-of-range ports and any text as an address; we do not', async (t) => {
  const lib = V1BinaryProxyProtocol.parse(v1('PROXY TCP4 hello world 99999 0080'));
  t.equal(lib.source.ipAddress, 'hello', 'library still accepts "hello" as an address');
  t.equal(lib.source.port, 99999, 'library still accepts port 99999');

  const bad: Array<[string, RegExp]> = [
    ['PROXY TCP4 192.0.2.1 198.51.100.2 65536 5432', /invalid source port "65536"/],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 1 99999', /invalid destination port "99999"/],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 0080 5432', /invalid source port "0080"/],
    ['PROXY TCP4 192.0.2.1 198.51.100.2 1234567 5432', /invalid source port/],
    ['PROXY TCP4 hello 198.51.100.2 1 2', /invalid TCP4 source address "hello"/],
    ['PROXY TCP4 192.0.2.1 world 1 2', /invalid TCP4 destination address "world"/],
    ['PROXY TCP4 010.0.2.1 198.51.100.2 1 2', /invalid TCP4 source address/],
    ['PROXY TCP4 10.1 198.51.100.2 1 2', /invalid TCP4 source address/],
    ['PROXY TCP4 2001:db8::1 198.51.100.2 1 2', /invalid TCP4 source address/],
    ['PROXY TCP4 ::ffff:192.0.2.1 198.51.100.2 1 2', /invalid TCP4 source address/],
    ['PROXY TCP6 192.0.2.1 2001:db8::2 1 2', /invalid TCP6 source address/],
    ['PROXY TCP6 [2001:db8::1] 2001:db8::2 1 2', /invalid TCP6 source address/],
    ['PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2', /invalid TCP6 source address/],
    ['PROXY TCP6 2001:db8::1::2 2001:db8::2 1 2', /invalid TCP6 source address/],
  ];
  for (const [line, message] of bad) t.throws(() => decodeProxyHeader(v1(line)), invalid(message), line);
});

t.test('v1 shape errors: unknown protocol, missing or extra fields, double spaces', async (t) => {
  for (const line of [
    'PROXY TCP5 192.0.2.1 198.51.100.2 1 2',
    'PROXY TCP4 192.0.2.1 198.51.100.2 1',
    'PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3',
    'PROXY TCP4  192.0.2.1 198.51.100.2 1 2',
    'PROXY TCP4 192.0.2.1 198.51.100.2 1 -2',
    'PROXY ',
  ]) {
    t.throws(() => decodeProxyHeader(v1(line)), invalid(/PROXY protocol v1/), JSON.stringify(line));
  }
  t.throws(() => decodeProxyHeader(Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 1 2')), invalid(/does not end with CRLF/));
  t.throws(() => decodeProxyHeader(Buffer.from('HELLO')), invalid(/neither the v1 nor the v2 signature/));
});

t.test('v2 PROXY over IPv4 and IPv6', async (t) => {
  t.same(decodeProxyHeader(v2(0x21, 0x11, IPV4_BLOCK)), {
    version: 2,
    command: 'proxy',
    family: 'inet',
    source: { address: '192.0.2.1', port: 51234 },
    destination: { address: '198.51.100.2', port: 5432 },
    tlvs: [],
  });
  t.same(decodeProxyHeader(v2(0x21, 0x21, IPV6_BLOCK)), {
    version: 2,
    command: 'proxy',
    family: 'inet6',
    source: { address: '2001:db8::1', port: 51234 },
    destination: { address: '2001:db8::2', port: 5432 },
    tlvs: [],
  });
  const mapped = decodeProxyHeader(v2(0x21, 0x21, MAPPED_BLOCK));
  t.same([mapped.source?.address, mapped.destination?.address], ['192.0.2.1', '198.51.100.2'], 'IPv4-mapped IPv6 normalised to IPv4');
});

t.test('defect (a): the library returns TLVs as payload; we parse them', async (t) => {
  const tlvBytes = Buffer.concat([tlv(0x01, 'postgresql'), tlv(0x02, 'db.example.com'), tlv(0x04, Buffer.alloc(3)), tlv(0xea, Buffer.from('\x01vpce-0abc', 'latin1'))]);
  const header = v2(0x21, 0x11, Buffer.concat([IPV4_BLOCK, tlvBytes]));
  const lib = V2ProxyProtocol.parse(header);
  t.same(Buffer.from(lib.data ?? []), tlvBytes, 'library still returns the TLV bytes as opaque data');

  const h = decodeProxyHeader(header);
  t.same(
    h.tlvs.map((x) => [x.type, x.value.toString('latin1')]),
    [
      [0x01, 'postgresql'],
      [0x02, 'db.example.com'],
      [0x04, '\0\0\0'],
      [0xea, '\x01vpce-0abc'],
    ],
  );
  t.equal(h.source?.address, '192.0.2.1', 'address still decoded with TLVs present');
  t.equal(describeTlvs(h.tlvs), 'ALPN="postgresql" AUTHORITY="db.example.com" NOOP=[3 bytes] AWS.VPCE_ID="vpce-0abc"');

  // TLVs after an IPv6 block start at byte 16 + 36.
  const h6 = decodeProxyHeader(v2(0x21, 0x21, Buffer.concat([IPV6_BLOCK, tlv(0x05, 'abc')])));
  t.same(h6.tlvs.map((x) => x.type), [0x05]);

  t.throws(() => decodeProxyHeader(v2(0x21, 0x11, Buffer.concat([IPV4_BLOCK, tlv(0x01, 'postgresql').subarray(0, 8)]))), invalid(/TLV ALPN announces 10 bytes but only 5 remain/));
  t.throws(() => decodeProxyHeader(v2(0x21, 0x11, Buffer.concat([IPV4_BLOCK, Buffer.from([0x01, 0x00])]))), invalid(/2 stray bytes where a TLV was expected/));
});

t.test('defect (b): the library yields NaN ports for a truncated address block; we refuse it', async (t) => {
  // Length field says 12 but only 6 bytes follow: the library happily decodes garbage.
  const truncated = v2(0x21, 0x11, IPV4_BLOCK.subarray(0, 6), 12);
  const lib = V2ProxyProtocol.parse(truncated);
  t.ok(Number.isNaN((lib.proxyAddress as { sourcePort: number }).sourcePort) || Number.isNaN((lib.proxyAddress as { destinationPort: number }).destinationPort), 'library still yields NaN ports');
  t.throws(() => decodeProxyHeader(truncated), invalid(/announces 12 bytes after its fixed part but 6 are present/));

  // Length field consistent with the bytes, but too short for the family's address block.
  t.throws(() => decodeProxyHeader(v2(0x21, 0x11, IPV4_BLOCK.subarray(0, 6))), invalid(/AF_INET address block needs 12 bytes but the header has 6/));
  t.throws(() => decodeProxyHeader(v2(0x21, 0x21, IPV6_BLOCK.subarray(0, 20))), invalid(/AF_INET6 address block needs 36 bytes/));
  t.throws(() => decodeProxyHeader(v2(0x21, 0x31, Buffer.alloc(100))), invalid(/AF_UNIX address block needs 216 bytes/));
  t.throws(() => decodeProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x00])])), invalid(/shorter than its fixed 16/));
  t.throws(() => decodeProxyHeader(Buffer.concat([v2(0x21, 0x11, IPV4_BLOCK), Buffer.from('extra')])), invalid(/announces 12 bytes .* but 17 are present/));
});

t.test('defect (e): the library throws non-Errors; we throw ClientError', async (t) => {
  const header = v2(0x2f, 0x11, IPV4_BLOCK); // command 0xF does not exist
  const libErr = libraryThrows(() => V2ProxyProtocol.parse(header));
  t.ok(libErr, 'library rejects the bad command');
  t.notOk(libErr instanceof Error, 'library error is still not an Error');
  let ours: unknown;
  try {
    decodeProxyHeader(header);
  } catch (err) {
    ours = err;
  }
  t.ok(ours instanceof ClientError, 'decoder throws a ClientError');
  t.ok(ours instanceof Error, 'which is an Error with a stack');
  t.match(ours, { code: 'PROXY_HEADER_INVALID', message: /invalid PROXY protocol v2 header: given command is invalid/, cause: libErr });

  t.throws(() => decodeProxyHeader(v2(0x21, 0x41, IPV4_BLOCK)), invalid(/given address family is invalid/), 'unknown family');
  t.throws(() => decodeProxyHeader(v2(0x21, 0x13, IPV4_BLOCK)), invalid(/given transport protocol is invalid/), 'unknown transport');
  t.throws(() => decodeProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 x 2\r\n')), invalid(/invalid PROXY protocol v1 header: invalid port information/));
});

t.test('v2 LOCAL: no address, whatever the family says', async (t) => {
  t.same(decodeProxyHeader(v2(0x20, 0x00, Buffer.alloc(0))), { version: 2, command: 'local', family: 'unspec', tlvs: [] });
  t.same(decodeProxyHeader(v2(0x20, 0x11, IPV4_BLOCK)).command, 'local', 'LOCAL with an IPv4 block ignores it');
  t.same(decodeProxyHeader(v2(0x20, 0xff, Buffer.alloc(3))).command, 'local', 'LOCAL with a nonsense family is still accepted (spec 2.2)');
});

t.test('v2 PROXY without a usable IP: AF_UNSPEC, AF_UNIX, unspecified transport', async (t) => {
  const unspec = decodeProxyHeader(v2(0x21, 0x00, Buffer.alloc(0)));
  t.same(unspec, { version: 2, command: 'proxy', family: 'unspec', tlvs: [] });
  const unix = decodeProxyHeader(v2(0x21, 0x31, Buffer.concat([Buffer.alloc(216), tlv(0x01, 'x')])));
  t.equal(unix.family, 'unix');
  t.notOk('source' in unix, 'AF_UNIX has no IP source');
  t.same(unix.tlvs.map((x) => x.type), [0x01], 'TLVs after the 216-byte unix block');
  const noTransport = decodeProxyHeader(v2(0x21, 0x10, IPV4_BLOCK));
  t.notOk('source' in noTransport, 'AF_INET with unspecified transport: use the peer');
});

t.test('v2 DGRAM is refused', async (t) => {
  t.throws(() => decodeProxyHeader(v2(0x21, 0x12, IPV4_BLOCK)), invalid(/UDP \(DGRAM\)/));
  t.throws(() => decodeProxyHeader(v2(0x21, 0x22, IPV6_BLOCK)), invalid(/UDP \(DGRAM\)/));
});

t.test('parseTlvs and describeTlvs', async (t) => {
  t.same(parseTlvs(Buffer.alloc(0)), []);
  t.same(parseTlvs(tlv(0x30, '')).map((x) => [x.type, x.value.length]), [[0x30, 0]], 'empty value');
  t.equal(describeTlvs([]), '(none)');
  t.equal(
    describeTlvs([
      { type: 0x03, value: Buffer.alloc(4) },
      { type: 0x20, value: Buffer.alloc(20) },
      { type: 0x30, value: Buffer.from('ns\x01') },
      { type: 0xe5, value: Buffer.alloc(2) },
    ]),
    'CRC32C=[4 bytes] SSL=[20 bytes] NETNS="ns?" 0xe5=[2 bytes]',
  );
  const source = Buffer.concat([tlv(0x05, 'id')]);
  const [copy] = parseTlvs(source);
  source.fill(0);
  t.equal(copy?.value.toString(), 'id', 'TLV values are copies, not views of the connection buffer');
});
