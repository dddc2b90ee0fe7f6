// Decodes one framed PROXY protocol header with proxy-protocol-js, and checks for ourselves everything that library gets wrong.
// Spec: https://www.haproxy.org/download/3.0/doc/proxy-protocol.txt
//
// proxy-protocol-js 4.0.6 defects contained here (each has a test in test/proxy-header-decode.test.ts):
//  (a) v2 TLVs come back as opaque "data" — we parse and validate the TLVs ourselves;
//  (b) a v2 address block shorter than its family needs yields NaN ports — we check lengths first;
//  (c) v1 ports above 65535 (or with leading zeroes) and any text as an address are accepted — we validate;
//  (d) "PROXY UNKNOWN" (valid per spec, with or without fields) is rejected — we handle it before the library;
//  (e) its errors do not extend Error — we convert whatever it throws into ClientError('PROXY_HEADER_INVALID').
import proxyProtocol from 'proxy-protocol-js';
import { ClientError } from '../errors.js';
import { normaliseIp } from '../net/index.js';
import { PROXY_V1_PREFIX, PROXY_V2_FIXED_LENGTH, PROXY_V2_SIGNATURE } from './proxy-header-framer.js';

const { V1BinaryProxyProtocol, V2ProxyProtocol, IPv4ProxyAddress, IPv6ProxyAddress } = proxyProtocol;

export interface ProxyEndpoint {
  /** Normalised with `normaliseIp` (IPv4-mapped IPv6 becomes IPv4). */
  readonly address: string;
  readonly port: number;
}

export interface ProxyTlv {
  readonly type: number;
  readonly value: Buffer;
}

/** The address family the header announced: v1 TCP4/TCP6/UNKNOWN, v2 AF_INET/AF_INET6/AF_UNIX/AF_UNSPEC. */
export type ProxyFamily = 'inet' | 'inet6' | 'unix' | 'unspec';

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** `local`: the proxy speaks for itself (health check); use the real peer address. */
  readonly command: 'proxy' | 'local';
  readonly family: ProxyFamily;
  /** Absent for LOCAL, UNKNOWN, AF_UNSPEC, AF_UNIX and unspecified transports: use the peer address. */
  readonly source?: ProxyEndpoint;
  readonly destination?: ProxyEndpoint;
  /** v2 type-length-value extensions, in header order; always empty for v1. */
  readonly tlvs: readonly ProxyTlv[];
}

/** Registered v2 TLV types (spec 2.2.1–2.2.8) plus the cloud vendors' custom ones seen in the wild. */
export const PP2_TLV_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0x01: 'ALPN',
  0x02: 'AUTHORITY',
  0x03: 'CRC32C',
  0x04: 'NOOP',
  0x05: 'UNIQUE_ID',
  0x20: 'SSL',
  0x30: 'NETNS',
  0xe0: 'GCP',
  0xea: 'AWS',
  0xee: 'AZURE',
});

// v2 byte 13: high nibble is the address family, low nibble the transport.
const AF_UNSPEC = 0x0;
const AF_INET = 0x1;
const AF_INET6 = 0x2;
const AF_UNIX = 0x3;
const TRANSPORT_STREAM = 0x1;
const TRANSPORT_DGRAM = 0x2;
const COMMAND_LOCAL = 0x0;

/** Address block length per family (spec 2.2): src+dst addresses and ports. */
const ADDRESS_BLOCK_LENGTH: Readonly<Record<number, number>> = { [AF_UNSPEC]: 0, [AF_INET]: 12, [AF_INET6]: 36, [AF_UNIX]: 216 };
const FAMILY_NAMES: Readonly<Record<number, ProxyFamily>> = { [AF_UNSPEC]: 'unspec', [AF_INET]: 'inet', [AF_INET6]: 'inet6', [AF_UNIX]: 'unix' };
const AF_LABELS: Readonly<Record<number, string>> = { [AF_UNSPEC]: 'AF_UNSPEC', [AF_INET]: 'AF_INET', [AF_INET6]: 'AF_INET6', [AF_UNIX]: 'AF_UNIX' };

const NO_TLVS: readonly ProxyTlv[] = Object.freeze([]);

function invalid(message: string, cause?: unknown): ClientError {
  return new ClientError('PROXY_HEADER_INVALID', message, cause === undefined ? undefined : { cause });
}

/** The library throws plain objects with a `message`, not Errors (defect e); get the text out of anything. */
function thrownText(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}

/**
 * Decodes exactly the bytes `frameProxyHeader` returned as `header`. Throws
 * `ClientError('PROXY_HEADER_INVALID')` for anything the spec does not allow; never anything else.
 */
export function decodeProxyHeader(header: Buffer): ProxyHeader {
  if (header.length >= PROXY_V1_PREFIX.length && header.compare(PROXY_V1_PREFIX, 0, PROXY_V1_PREFIX.length, 0, PROXY_V1_PREFIX.length) === 0) {
    return decodeV1(header);
  }
  if (header.length >= PROXY_V2_SIGNATURE.length && header.compare(PROXY_V2_SIGNATURE, 0, PROXY_V2_SIGNATURE.length, 0, PROXY_V2_SIGNATURE.length) === 0) {
    return decodeV2(header);
  }
  throw invalid('PROXY protocol header starts with neither the v1 nor the v2 signature');
}

// ---- v1 ------------------------------------------------------------------------------------------

/** Spec 2.1: decimal 0..65535, no heading zeroes (they would read as octal elsewhere). */
const V1_PORT = /^(0|[1-9][0-9]{0,4})$/;

function decodeV1(header: Buffer): ProxyHeader {
  if (header.length < PROXY_V1_PREFIX.length + 2 || header[header.length - 2] !== 0x0d || header[header.length - 1] !== 0x0a) {
    throw invalid('PROXY protocol v1 header does not end with CRLF');
  }
  const line = header.toString('latin1', PROXY_V1_PREFIX.length, header.length - 2);
  // Defect (d): the spec lets UNKNOWN carry anything (or nothing) up to the CRLF, and the receiver must
  // ignore it; the library insists on addresses after it. Decide it here, before the library sees it.
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) {
    return { version: 1, command: 'proxy', family: 'unspec', tlvs: NO_TLVS };
  }

  let parsed: InstanceType<typeof V1BinaryProxyProtocol>;
  try {
    parsed = V1BinaryProxyProtocol.parse(header);
  } catch (err) {
    throw invalid(`invalid PROXY protocol v1 header: ${thrownText(err)}`, err);
  }
  if (parsed.data !== undefined && parsed.data.length !== 0) {
    throw invalid('PROXY protocol v1 header has bytes after its CRLF');
  }
  const family: ProxyFamily = parsed.inetProtocol === 'TCP4' ? 'inet' : parsed.inetProtocol === 'TCP6' ? 'inet6' : 'unspec';
  if (family === 'unspec') throw invalid(`PROXY protocol v1 header has unsupported protocol "${parsed.inetProtocol}"`);

  // Defect (c): the library takes any token as an address and any digit run as a port. Re-check the
  // exact shape: five fields, single spaces, addresses of the announced family, ports in range.
  const fields = line.split(' ');
  if (fields.length !== 5) throw invalid(`PROXY protocol v1 header must have 5 space-separated fields, has ${fields.length}`);
  const [, srcText, dstText, srcPortText, dstPortText] = fields as [string, string, string, string, string];
  if (srcText !== parsed.source.ipAddress || dstText !== parsed.destination.ipAddress) {
    throw invalid('PROXY protocol v1 header addresses are malformed');
  }
  return {
    version: 1,
    command: 'proxy',
    family,
    source: { address: v1Address(srcText, family, 'source'), port: v1Port(srcPortText, 'source') },
    destination: { address: v1Address(dstText, family, 'destination'), port: v1Port(dstPortText, 'destination') },
    tlvs: NO_TLVS,
  };
}

function v1Address(text: string, family: 'inet' | 'inet6', which: string): string {
  // The spec's grammar has no brackets, zone ids or v4 text on a TCP6 line (nor v6 text on TCP4);
  // normaliseIp would quietly accept or rewrite some of those.
  const looksV6 = text.includes(':');
  const shapeOk = family === 'inet' ? !looksV6 : looksV6 && !text.includes('[') && !text.includes('%');
  const normalised = shapeOk ? normaliseIp(text) : undefined;
  if (normalised === undefined) {
    throw invalid(`PROXY protocol v1 header has an invalid ${family === 'inet' ? 'TCP4' : 'TCP6'} ${which} address "${printable(text)}"`);
  }
  return normalised;
}

function v1Port(text: string, which: string): number {
  const port = V1_PORT.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) throw invalid(`PROXY protocol v1 header has an invalid ${which} port "${printable(text)}"`);
  return port;
}

/** Keeps attacker-supplied text in error messages short and free of control characters. */
function printable(text: string): string {
  const clipped = text.length > 48 ? `${text.slice(0, 48)}…` : text;
  return clipped.replace(/[^\x20-\x7e…]/g, '?');
}

// ---- v2 ------------------------------------------------------------------------------------------

function decodeV2(header: Buffer): ProxyHeader {
  if (header.length < PROXY_V2_FIXED_LENGTH) throw invalid(`PROXY protocol v2 header is ${header.length} bytes, shorter than its fixed 16`);
  const declared = header.readUInt16BE(14);
  if (header.length !== PROXY_V2_FIXED_LENGTH + declared) {
    throw invalid(`PROXY protocol v2 header announces ${declared} bytes after its fixed part but ${header.length - PROXY_V2_FIXED_LENGTH} are present`);
  }
  const version = header[12]! >> 4;
  if (version !== 2) throw invalid(`PROXY protocol v2 header has version ${version}, expected 2`);
  const command = header[12]! & 0x0f;
  const af = header[13]! >> 4;
  const transport = header[13]! & 0x0f;

  // Spec 2.2: for LOCAL the receiver must accept the connection and discard the whole block, family
  // included, which the library would instead validate and possibly reject.
  if (command === COMMAND_LOCAL) return { version: 2, command: 'local', family: 'unspec', tlvs: NO_TLVS };

  // Defect (b): the library builds ports from bytes it never checked were there. Check the block first.
  const blockLength = ADDRESS_BLOCK_LENGTH[af];
  if (blockLength !== undefined && declared < blockLength) {
    throw invalid(`PROXY protocol v2 ${AF_LABELS[af]} address block needs ${blockLength} bytes but the header has ${declared}`);
  }

  let parsed: InstanceType<typeof V2ProxyProtocol>;
  try {
    parsed = V2ProxyProtocol.parse(header);
  } catch (err) {
    throw invalid(`invalid PROXY protocol v2 header: ${thrownText(err)}`, err);
  }
  if (parsed.transportProtocol === TRANSPORT_DGRAM) throw invalid('PROXY protocol v2 header announces a UDP (DGRAM) connection');
  // The library accepted af, so it is one of the four known families.
  const family = FAMILY_NAMES[af]!;
  // Defect (a): the library hands back everything after the address block as "data"; those are TLVs.
  const tlvs = parseTlvs(header.subarray(PROXY_V2_FIXED_LENGTH + ADDRESS_BLOCK_LENGTH[af]!));

  // Unspecified transport or a family without IP addresses: the spec lets us accept and use the real peer.
  if (transport !== TRANSPORT_STREAM || (af !== AF_INET && af !== AF_INET6)) {
    return { version: 2, command: 'proxy', family, tlvs };
  }
  const addr = parsed.proxyAddress;
  let source: ProxyEndpoint;
  let destination: ProxyEndpoint;
  if (addr instanceof IPv4ProxyAddress) {
    source = { address: v2Address(addr.sourceAddress.address.join('.'), 'source'), port: v2Port(addr.sourcePort, 'source') };
    destination = { address: v2Address(addr.destinationAddress.address.join('.'), 'destination'), port: v2Port(addr.destinationPort, 'destination') };
  } else if (addr instanceof IPv6ProxyAddress) {
    source = { address: v2Address(ipv6Text(addr.sourceAddress.address), 'source'), port: v2Port(addr.sourcePort, 'source') };
    destination = { address: v2Address(ipv6Text(addr.destinationAddress.address), 'destination'), port: v2Port(addr.destinationPort, 'destination') };
  } else {
    throw invalid(`PROXY protocol v2 ${AF_LABELS[af]} header decoded to an unexpected address type`);
  }
  return { version: 2, command: 'proxy', family, source, destination, tlvs };
}

/** Eight hex groups; normaliseIp then compresses them and unmaps ::ffff:a.b.c.d. Missing bytes give text it rejects. */
function ipv6Text(bytes: readonly number[]): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    const hi = bytes[i];
    const lo = bytes[i + 1];
    groups.push(Number.isInteger(hi) && Number.isInteger(lo) ? ((hi! << 8) | lo!).toString(16) : 'x');
  }
  return groups.join(':');
}

function v2Address(text: string, which: string): string {
  const normalised = normaliseIp(text);
  if (normalised === undefined) throw invalid(`PROXY protocol v2 header has an unreadable ${which} address`);
  return normalised;
}

/** Belt and braces for defect (b): never let a NaN port through even if a length check is ever lost. */
function v2Port(port: number, which: string): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid(`PROXY protocol v2 header has an unreadable ${which} port`);
  return port;
}

/**
 * Spec 2.2.1: a sequence of {type: 1 byte, length: 2 bytes big-endian, value}. The vectors must
 * fill the remainder exactly; a partial vector means the length field or a TLV length is wrong.
 * Values are copied so they do not pin the connection's first chunk in memory.
 */
export function parseTlvs(bytes: Buffer): ProxyTlv[] {
  const tlvs: ProxyTlv[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 3) throw invalid(`PROXY protocol v2 header has ${bytes.length - at} stray bytes where a TLV was expected`);
    const type = bytes[at]!;
    const length = bytes.readUInt16BE(at + 1);
    const end = at + 3 + length;
    if (end > bytes.length) {
      throw invalid(`PROXY protocol v2 TLV ${tlvName(type)} announces ${length} bytes but only ${bytes.length - at - 3} remain`);
    }
    tlvs.push({ type, value: Buffer.from(bytes.subarray(at + 3, end)) });
    at = end;
  }
  return tlvs;
}

function tlvName(type: number): string {
  return PP2_TLV_NAMES[type] ?? `0x${type.toString(16).padStart(2, '0')}`;
}

/** TLV types whose value is text meant for humans (ALPN protocol, SNI host name, namespace name). */
const TEXT_TLVS = new Set([0x01, 0x02, 0x30]);

/**
 * One line for debug logs, e.g. `ALPN="postgresql" AUTHORITY="db.example.com" AWS=[13 bytes] 0xe5=[2 bytes]`.
 * Values other than the short text ones are not printed: they may carry certificates or ids.
 */
export function describeTlvs(tlvs: readonly ProxyTlv[]): string {
  if (tlvs.length === 0) return '(none)';
  return tlvs
    .map((tlv) => {
      const name = tlvName(tlv.type);
      if (TEXT_TLVS.has(tlv.type)) return `${name}=${JSON.stringify(printable(tlv.value.toString('latin1')))}`;
      if (tlv.type === 0xea && tlv.value[0] === 0x01) {
        // AWS subtype 1 is the VPC endpoint id, which operators grep for.
        return `AWS.VPCE_ID=${JSON.stringify(printable(tlv.value.toString('latin1', 1)))}`;
      }
      return `${name}=[${tlv.value.length} bytes]`;
    })
    .join(' ');
}
