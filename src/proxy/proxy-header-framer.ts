// Frames a PROXY protocol header (v1 text or v2 binary) out of the first bytes of a TCP stream, fed chunk by chunk.
// Spec: https://www.haproxy.org/download/3.0/doc/proxy-protocol.txt (sections 2.1 and 2.2).
import { ClientError } from '../errors.js';

/** "PROXY " — the v1 header starts with these six bytes. */
export const PROXY_V1_PREFIX: Buffer = Buffer.from('PROXY ', 'latin1');

/** The 12-byte v2 signature: \r\n\r\n\0\r\nQUIT\n. */
export const PROXY_V2_SIGNATURE: Buffer = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** Longest v1 header the spec allows, CRLF included ("PROXY UNKNOWN" + two full IPv6 + two ports + CRLF fits). */
export const PROXY_V1_MAX_LENGTH = 107;

/** Signature, version/command, family/transport and the 16-bit length field. */
export const PROXY_V2_FIXED_LENGTH = 16;

/**
 * Largest v2 header we accept, fixed part included. The spec allows 16 + 65535, but the address blocks
 * plus the TLVs real proxies send (ALPN, authority, unique id, SSL summary, cloud endpoint ids) stay well
 * under 1 kB; refusing more caps what one unauthenticated connection can make us buffer.
 */
export const PROXY_V2_MAX_LENGTH = 4096;

const CR = 0x0d;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);

export type FrameResult =
  | { readonly status: 'need-more' }
  /** `header` is exactly the header's bytes; `rest` is what followed it in the stream (the client's first message). */
  | { readonly status: 'header'; readonly version: 1 | 2; readonly header: Buffer; readonly rest: Buffer }
  /** The stream does not start with a PROXY header; `rest` is every byte seen so far. */
  | { readonly status: 'absent'; readonly rest: Buffer };

const NEED_MORE: FrameResult = Object.freeze({ status: 'need-more' });

function invalid(message: string): ClientError {
  return new ClientError('PROXY_HEADER_INVALID', message);
}

/** True when the first `min(buf.length, prefix.length)` bytes of `buf` equal the start of `prefix`. */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.compare(prefix, 0, n, 0, n) === 0;
}

/**
 * Frames the header from all bytes received so far. Decides as early as one byte allows that the
 * stream cannot start with a header (so `optional` mode never waits on a direct client), and throws
 * `ClientError('PROXY_HEADER_INVALID')` as soon as the bytes can no longer become a valid frame.
 */
export function frameProxyHeader(buf: Buffer): FrameResult {
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] === PROXY_V1_PREFIX[0]) {
    if (!startsLike(buf, PROXY_V1_PREFIX)) return { status: 'absent', rest: buf };
    if (buf.length < PROXY_V1_PREFIX.length) return NEED_MORE;
    return frameV1(buf);
  }
  if (buf[0] === PROXY_V2_SIGNATURE[0]) {
    if (!startsLike(buf, PROXY_V2_SIGNATURE)) return { status: 'absent', rest: buf };
    if (buf.length <= PROXY_V2_SIGNATURE.length) return NEED_MORE;
    return frameV2(buf);
  }
  return { status: 'absent', rest: buf };
}

function frameV1(buf: Buffer): FrameResult {
  const limit = Math.min(buf.length, PROXY_V1_MAX_LENGTH);
  for (let i = PROXY_V1_PREFIX.length; i < limit; i++) {
    const c = buf[i];
    // The spec forbids a lone CR or LF: accepting either would let a sloppy sender smuggle a line break.
    if (c === LF) throw invalid(`PROXY protocol v1 header has a line feed without carriage return at byte ${i}`);
    if (c !== CR) continue;
    if (i + 2 > PROXY_V1_MAX_LENGTH) break;
    if (i + 1 >= buf.length) return NEED_MORE;
    if (buf[i + 1] !== LF) throw invalid(`PROXY protocol v1 header has a carriage return without line feed at byte ${i}`);
    return { status: 'header', version: 1, header: buf.subarray(0, i + 2), rest: buf.subarray(i + 2) };
  }
  if (buf.length >= PROXY_V1_MAX_LENGTH) {
    throw invalid(`PROXY protocol v1 header has no CRLF within its first ${PROXY_V1_MAX_LENGTH} bytes`);
  }
  return NEED_MORE;
}

function frameV2(buf: Buffer): FrameResult {
  const version = buf[PROXY_V2_SIGNATURE.length]! >> 4;
  if (version !== 2) throw invalid(`PROXY protocol v2 signature followed by version ${version}, expected 2`);
  if (buf.length < PROXY_V2_FIXED_LENGTH) return NEED_MORE;
  const total = PROXY_V2_FIXED_LENGTH + buf.readUInt16BE(14);
  if (total > PROXY_V2_MAX_LENGTH) {
    throw invalid(`PROXY protocol v2 header is ${total} bytes long, more than the ${PROXY_V2_MAX_LENGTH} accepted`);
  }
  if (buf.length < total) return NEED_MORE;
  return { status: 'header', version: 2, header: buf.subarray(0, total), rest: buf.subarray(total) };
}

/**
 * Accumulates chunks until `frameProxyHeader` can decide. The buffer never outgrows the largest
 * header plus one chunk, because every answer other than `need-more` ends the framer's life.
 */
export class ProxyHeaderFramer {
  #buf: Buffer = EMPTY;
  #finished = false;

  /** Bytes held while waiting for more. */
  get buffered(): number {
    return this.#buf.length;
  }

  push(chunk: Buffer): FrameResult {
    if (this.#finished) throw new Error('ProxyHeaderFramer.push called after the framer reached a decision');
    // Headers are small and usually arrive whole, so joining the rare split chunk costs nothing worth a cursor list.
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    let result: FrameResult;
    try {
      result = frameProxyHeader(this.#buf);
    } catch (err) {
      this.#finished = true;
      this.#buf = EMPTY;
      throw err;
    }
    if (result.status !== 'need-more') {
      this.#finished = true;
      this.#buf = EMPTY;
    }
    return result;
  }
}
