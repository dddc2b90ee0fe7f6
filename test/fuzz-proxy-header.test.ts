// Invariant: a PROXY v1/v2 header split anywhere gives the header and the bytes after it exactly as the unsplit stream does, and any other bytes reach the unsplit decision or PROXY_HEADER_INVALID, never another exception, with bounded buffering.
// Property-based (fast-check) with a random seed: on failure fast-check prints the seed, the path and the shrunk counterexample; rerun with
// FC_SEED=<seed> FC_PATH=<path> to replay it.
import t from 'tap';
import fc from 'fast-check';
import { frameProxyHeader, ProxyHeaderFramer, PROXY_V1_MAX_LENGTH, PROXY_V2_MAX_LENGTH, type FrameResult } from '../src/proxy/proxy-header-framer.js';
import { ClientError } from '../src/errors.js';
import { V2_SIGNATURE } from './fixtures/proxy-headers.js';
import { check, cut, cutPoints } from './fixtures/fuzz.js';


const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6();
const port = fc.integer({ min: 0, max: 65535 });
const v1Header = fc.oneof(
  fc.tuple(ipv4, ipv4, port, port).map(([a, b, p, q]) => `PROXY TCP4 ${a} ${b} ${p} ${q}\r\n`),
  fc.tuple(ipv6, ipv6, port, port).map(([a, b, p, q]) => `PROXY TCP6 ${a} ${b} ${p} ${q}\r\n`),
  fc.constant('PROXY UNKNOWN\r\n'),
).filter((s) => s.length <= PROXY_V1_MAX_LENGTH).map((s) => Buffer.from(s, 'latin1'));
const v2Header = fc
  .record({
    cmd: fc.constantFrom(0x20, 0x21),
    fam: fc.integer({ min: 0, max: 255 }),
    body: fc.uint8Array({ maxLength: 300 }),
  })
  .map(({ cmd, fam, body }) => {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(body.length);
    return Buffer.concat([V2_SIGNATURE, Buffer.from([cmd, fam]), len, Buffer.from(body)]);
  });
/** What follows the header: typically a StartupMessage or SSLRequest, here any bytes. */
const after = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b));

type Outcome = { status: 'need-more' } | { status: 'header'; version: number; header: string; rest: string } | { status: 'absent'; rest: string } | { status: 'error'; code: string };

/** Feeds chunks until a decision; the bytes of later chunks count as `rest`, as the reader hands them on. */
function feedProxy(chunks: Buffer[]): Outcome {
  const f = new ProxyHeaderFramer();
  let res: FrameResult | undefined;
  let i = 0;
  try {
    for (; i < chunks.length; i++) {
      res = f.push(chunks[i]!);
      if (res.status !== 'need-more') break;
    }
  } catch (err) {
    if (err instanceof ClientError) return { status: 'error', code: err.code };
    throw err;
  }
  const later = Buffer.concat(chunks.slice(i + 1));
  if (!res || res.status === 'need-more') return { status: 'need-more' };
  if (res.status === 'absent') return { status: 'absent', rest: Buffer.concat([res.rest, later]).toString('hex') };
  return { status: 'header', version: res.version, header: res.header.toString('hex'), rest: Buffer.concat([res.rest, later]).toString('hex') };
}

function whole(buf: Buffer): Outcome {
  try {
    const r = frameProxyHeader(buf);
    if (r.status === 'need-more') return r;
    if (r.status === 'absent') return { status: 'absent', rest: r.rest.toString('hex') };
    return { status: 'header', version: r.version, header: r.header.toString('hex'), rest: r.rest.toString('hex') };
  } catch (err) {
    if (err instanceof ClientError) return { status: 'error', code: err.code };
    throw err;
  }
}

t.test('ProxyHeaderFramer: valid v1/v2 headers split anywhere give the same header and the same following bytes', async (tt) => {
  await check(
    tt,
    'proxy framer valid',
    fc.property(fc.oneof(v1Header, v2Header), after, cutPoints, (header, rest, points) => {
      const buf = Buffer.concat([header, rest]);
      const got = feedProxy(cut(buf, points));
      if (got.status !== 'header' || got.header !== header.toString('hex') || got.rest !== rest.toString('hex')) {
        throw new Error(`expected the header and rest back, got ${JSON.stringify(got)}`);
      }
      return true;
    }),
    500,
  );
});

/** Bytes that look like the start of a header, then go wrong (or not) in any way. */
const hostile = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.tuple(fc.constantFrom(Buffer.from('PROXY '), Buffer.from('PROX'), V2_SIGNATURE, V2_SIGNATURE.subarray(0, 7)), fc.uint8Array({ maxLength: 200 })).map(([p, b]) => Buffer.concat([p, Buffer.from(b)])),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 100 })).map(([vc, len, b]) => {
    const l = Buffer.alloc(2);
    l.writeUInt16BE(len);
    return Buffer.concat([V2_SIGNATURE, Buffer.from([vc, 0x11]), l, Buffer.from(b)]);
  }),
  fc.tuple(fc.stringMatching(/^[A-Z0-9 .:\r\n]{0,140}$/)).map(([s]) => Buffer.from(`PROXY ${s}`, 'latin1')),
);

t.test('ProxyHeaderFramer: any bytes split anywhere reach the unsplit decision, or PROXY_HEADER_INVALID, never another exception', async (tt) => {
  await check(
    tt,
    'proxy framer hostile',
    fc.property(hostile, cutPoints, (buf, points) => {
      const got = feedProxy(cut(buf, points));
      const want = whole(buf);
      if (got.status === 'error' && got.code !== 'PROXY_HEADER_INVALID') throw new Error(`unexpected error code ${got.code}`);
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`split ${JSON.stringify(got)} != whole ${JSON.stringify(want)}`);
      // Bounded buffering: an undecided framer never holds more than the largest header.
      if (want.status === 'need-more' && buf.length > PROXY_V2_MAX_LENGTH) throw new Error(`undecided after ${buf.length} bytes`);
      return true;
    }),
    1000,
  );
});
