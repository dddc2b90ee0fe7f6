// Framer tests: every sample header split at every byte boundary frames the same and leaves the bytes after it intact.
import t from 'tap';
import { ClientError } from '../src/errors.js';
import { frameProxyHeader, ProxyHeaderFramer, PROXY_V1_MAX_LENGTH, PROXY_V2_MAX_LENGTH, type FrameResult } from '../src/proxy/proxy-header-framer.js';
import { V2_SIGNATURE, SSL_REQUEST, v2, tlv, IPV4_BLOCK, IPV6_BLOCK } from './fixtures/proxy-headers.js';

const SAMPLES: Record<string, { version: 1 | 2; bytes: Buffer }> = {
  'v1 TCP4': { version: 1, bytes: Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 51234 5432\r\n') },
  'v1 TCP6': { version: 1, bytes: Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 51234 5432\r\n') },
  'v1 UNKNOWN': { version: 1, bytes: Buffer.from('PROXY UNKNOWN\r\n') },
  'v1 UNKNOWN with fields': { version: 1, bytes: Buffer.from('PROXY UNKNOWN ffff:f::1 ffff:f::2 65535 65535\r\n') },
  'v2 PROXY IPv4': { version: 2, bytes: v2(0x21, 0x11, IPV4_BLOCK) },
  'v2 PROXY IPv6': { version: 2, bytes: v2(0x21, 0x21, IPV6_BLOCK) },
  'v2 PROXY IPv4 with TLVs': {
    version: 2,
    bytes: v2(0x21, 0x11, Buffer.concat([IPV4_BLOCK, tlv(0x01, 'postgresql'), tlv(0x02, 'db.example.com'), tlv(0x04, Buffer.alloc(5))])),
  },
  'v2 LOCAL': { version: 2, bytes: v2(0x20, 0x00, Buffer.alloc(0)) },
};

/** Feeds chunks the way the socket reader does: after a decision, later chunks belong to the next stage. */
function feed(chunks: Buffer[]): { result: FrameResult; after: Buffer } {
  const framer = new ProxyHeaderFramer();
  let result: FrameResult = { status: 'need-more' };
  const after: Buffer[] = [];
  for (const chunk of chunks) {
    if (result.status === 'need-more') result = framer.push(chunk);
    else after.push(chunk);
  }
  return { result, after: Buffer.concat(after) };
}

function headerAndRest(chunks: Buffer[]): { header: Buffer; version: number; rest: Buffer } | string {
  const { result, after } = feed(chunks);
  if (result.status !== 'header') return result.status;
  return { header: result.header, version: result.version, rest: Buffer.concat([result.rest, after]) };
}

/** What tap's `throws` should match: our invalid-header ClientError with this message. */
function invalid(message: RegExp): { name: string; code: string; message: RegExp } {
  return { name: 'ClientError', code: 'PROXY_HEADER_INVALID', message };
}

for (const [name, sample] of Object.entries(SAMPLES)) {
  t.test(`${name}: every split point yields the same header and an intact payload`, async (t) => {
    const stream = Buffer.concat([sample.bytes, SSL_REQUEST]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const got = headerAndRest([stream.subarray(0, cut), stream.subarray(cut)]);
      if (typeof got === 'string') {
        t.fail(`split at ${cut} ended as ${got}`);
        continue;
      }
      if (!got.header.equals(sample.bytes) || !got.rest.equals(SSL_REQUEST) || got.version !== sample.version) {
        t.fail(`split at ${cut} framed ${got.header.toString('hex')} + ${got.rest.toString('hex')}`);
      }
    }
    t.pass(`all ${stream.length + 1} split points agree`);
  });

  t.test(`${name}: one byte at a time`, async (t) => {
    const stream = Buffer.concat([sample.bytes, SSL_REQUEST]);
    const chunks = [...stream].map((b) => Buffer.from([b]));
    const got = headerAndRest(chunks);
    t.same(got, { header: sample.bytes, version: sample.version, rest: SSL_REQUEST });
  });

  t.test(`${name}: header alone asks for nothing more and has an empty rest`, async (t) => {
    const r = frameProxyHeader(sample.bytes);
    t.equal(r.status, 'header');
    if (r.status === 'header') t.equal(r.rest.length, 0);
  });
}

t.test('absent: the first byte already rules a header out', async (t) => {
  for (const first of [SSL_REQUEST, Buffer.from('GET / HTTP/1.1\r\n'), Buffer.from([0x16, 0x03, 0x01])]) {
    const r = frameProxyHeader(first.subarray(0, 1));
    t.same(r, { status: 'absent', rest: first.subarray(0, 1) }, `first byte 0x${first[0]!.toString(16)}`);
  }
});

t.test('absent: a stream that starts like a signature and then differs returns every byte', async (t) => {
  for (const text of ['PROXZ', 'PROXYTCP4 ', 'Pg', '\r\n\r\nX', '\r\n\r\n\0\r\nQUIX']) {
    const bytes = Buffer.from(text, 'latin1');
    const { result, after } = feed([...bytes].map((b) => Buffer.from([b])));
    t.equal(result.status, 'absent', JSON.stringify(text));
    if (result.status === 'absent') t.same(Buffer.concat([result.rest, after]), bytes, `${JSON.stringify(text)} kept intact`);
  }
});

t.test('need-more while the bytes can still become a header', async (t) => {
  for (const text of ['', 'P', 'PROXY', 'PROXY TCP4 1.2.3.4', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r', '\r\n\r\n\0\r\nQUIT\n', '\r\n\r\n\0\r\nQUIT\n\x21\x11\x00']) {
    t.same(frameProxyHeader(Buffer.from(text, 'latin1')), { status: 'need-more' }, JSON.stringify(text));
  }
  const partialV2 = SAMPLES['v2 PROXY IPv6']!.bytes;
  t.same(frameProxyHeader(partialV2.subarray(0, partialV2.length - 1)), { status: 'need-more' }, 'v2 one byte short');
});

t.test('v1 of exactly 107 bytes is accepted; 107 bytes without CRLF are not', async (t) => {
  const max = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(PROXY_V1_MAX_LENGTH - 'PROXY UNKNOWN '.length - 2)}\r\n`);
  t.equal(max.length, PROXY_V1_MAX_LENGTH);
  t.equal(frameProxyHeader(max).status, 'header');
  const noCrlf = Buffer.from(`PROXY TCP4 ${'1'.repeat(200)}`);
  t.throws(() => frameProxyHeader(noCrlf.subarray(0, PROXY_V1_MAX_LENGTH)), invalid(/no CRLF within its first 107 bytes/));
  t.throws(() => frameProxyHeader(noCrlf), invalid(/no CRLF within its first 107 bytes/));
  // CR as the 107th byte: the LF would be the 108th.
  const late = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(PROXY_V1_MAX_LENGTH - 'PROXY UNKNOWN '.length - 1)}\r\n`);
  t.throws(() => frameProxyHeader(late), invalid(/no CRLF within its first 107 bytes/));
});

t.test('v1 with a lone LF or CR is invalid', async (t) => {
  t.throws(() => frameProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n')), invalid(/line feed without carriage return/));
  t.throws(() => frameProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n')), invalid(/carriage return without line feed/));
});

t.test('v2 with a version nibble other than 2 is invalid as soon as the 13th byte arrives', async (t) => {
  t.throws(() => frameProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x11])])), invalid(/version 1, expected 2/));
  t.throws(() => frameProxyHeader(v2(0x31, 0x11, IPV4_BLOCK)), invalid(/version 3, expected 2/));
});

t.test('v2 whose length field exceeds the cap is invalid before the body arrives', async (t) => {
  const head = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
  t.throws(() => frameProxyHeader(head), invalid(/65551 bytes long, more than the 4096 accepted/));
  const atCap = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11]), Buffer.from([(PROXY_V2_MAX_LENGTH - 16) >> 8, (PROXY_V2_MAX_LENGTH - 16) & 0xff])]);
  t.same(frameProxyHeader(atCap), { status: 'need-more' }, 'exactly the cap is still fine');
});

t.test('v2 length field shorter than the real header leaves the remainder as payload (the decoder rejects the short block)', async (t) => {
  // Framing trusts the length field by design; the address-block check lives in the decoder.
  const short = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x00, 0x04]), IPV4_BLOCK]);
  const r = frameProxyHeader(short);
  t.equal(r.status, 'header');
  if (r.status === 'header') {
    t.equal(r.header.length, 20);
    t.same(r.rest, IPV4_BLOCK.subarray(4));
  }
});

t.test('framer refuses use after its decision and after an error', async (t) => {
  const framer = new ProxyHeaderFramer();
  t.equal(framer.push(SAMPLES['v1 TCP4']!.bytes).status, 'header');
  t.throws(() => framer.push(Buffer.from('x')), /after the framer reached a decision/);
  const broken = new ProxyHeaderFramer();
  t.throws(() => broken.push(Buffer.concat([V2_SIGNATURE, Buffer.from([0x11])])), ClientError);
  t.equal(broken.buffered, 0, 'dropped its buffer');
  t.throws(() => broken.push(Buffer.from('x')), /after the framer reached a decision/);
});

t.test('framer holds at most one header while waiting', async (t) => {
  const framer = new ProxyHeaderFramer();
  const bytes = SAMPLES['v1 TCP6']!.bytes;
  for (let i = 0; i < bytes.length - 1; i++) framer.push(bytes.subarray(i, i + 1));
  t.equal(framer.buffered, bytes.length - 1);
  t.equal(framer.push(bytes.subarray(bytes.length - 1)).status, 'header');
  t.equal(framer.buffered, 0);
});
