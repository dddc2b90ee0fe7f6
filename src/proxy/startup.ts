// The Postgres startup phase (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP): SSL/GSS negotiation, CancelRequest, StartupMessage.
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Socket } from 'node:net';
import { ClientError } from '../errors.js';
import { SSL_NO, SSL_YES, StartupCode, negotiateProtocolVersion } from '../protocol/index.js';
import { PacketReader } from './packet-reader.js';
import { intern } from './intern.js';

/** The newest protocol minor version pgporter speaks (3.0). */
const SUPPORTED_MINOR = 0;

export interface CancelKey {
  pid: number;
  secret: number;
}

export type StartupOutcome =
  | { kind: 'cancel'; key: CancelKey }
  | {
      kind: 'startup';
      socket: Socket;
      reader: PacketReader;
      params: Map<string, string>;
      tls: boolean;
      /** The SNI host name the client sent in its TLS ClientHello, if any. */
      servername: string | undefined;
    };

export interface StartupOptions {
  maxPacketSize: number;
  secureContext: SecureContext | undefined;
}

function parseStartupParams(body: Buffer): { params: Map<string, string>; options: string[] } {
  // body: int32 version, then name\0value\0 ... \0
  const params = new Map<string, string>();
  const options: string[] = [];
  let i = 4;
  const end = body.length;
  for (;;) {
    if (i >= end) throw new ClientError('STARTUP_INVALID', 'invalid startup packet layout: expected terminator as last byte');
    if (body[i] === 0) {
      if (i !== end - 1) throw new ClientError('STARTUP_INVALID', 'invalid startup packet layout: expected terminator as last byte');
      break;
    }
    const nameEnd = body.indexOf(0, i);
    if (nameEnd < 0 || nameEnd + 1 >= end) throw new ClientError('STARTUP_INVALID', 'invalid startup packet layout: expected terminator as last byte');
    const valueEnd = body.indexOf(0, nameEnd + 1);
    if (valueEnd < 0) throw new ClientError('STARTUP_INVALID', 'invalid startup packet layout: expected terminator as last byte');
    // Interned: every session keeps its user, database and the rest for as long as it lives.
    const name = intern(body.toString('utf8', i, nameEnd));
    const value = intern(body.toString('utf8', nameEnd + 1, valueEnd));
    // Protocol options (_pq_.*) are ones we may not understand: report them via NegotiateProtocolVersion.
    if (name.startsWith('_pq_.')) options.push(name);
    else params.set(name, value);
    i = valueEnd + 1;
  }
  return { params, options };
}

async function upgradeToTls(socket: Socket, ctx: SecureContext): Promise<TLSSocket> {
  const tlsSocket = new TLSSocket(socket, { isServer: true, secureContext: ctx });
  await new Promise<void>((resolve, reject) => {
    const onErr = (err: Error) => {
      tlsSocket.off('secure', onSecure);
      reject(new ClientError('TLS_FAILED', `TLS handshake failed: ${err.message}`));
    };
    const onSecure = () => {
      tlsSocket.off('error', onErr);
      resolve();
    };
    tlsSocket.once('secure', onSecure);
    tlsSocket.once('error', onErr);
  });
  return tlsSocket;
}

/**
 * Runs the startup phase until a StartupMessage or a CancelRequest arrives.
 * Answers SSLRequest ('S' and a TLS handshake, or 'N') and GSSENCRequest ('N') once each, as PostgreSQL does; a too-new minor version gets NegotiateProtocolVersion.
 */
export async function negotiateStartup(socket: Socket, initial: Buffer, opts: StartupOptions): Promise<StartupOutcome> {
  let current: Socket = socket;
  let tls = false;
  let servername: string | undefined;
  // PostgreSQL's ssl_done/gss_done (ProcessStartupPacket): a negotiation request that may not come now is not answered
  // but read as a startup packet, whose "protocol 1234.5679" is then refused with 0A000. After SSL 'S' neither may
  // follow; after an 'N' the other kind may (clients negotiate in either order), the same kind may not.
  let sslDone = false;
  let gssDone = false;
  const reader = new PacketReader(socket, initial, opts.maxPacketSize + 8);
  try {
    for (;;) {
      const body = await reader.readStartupPacket(opts.maxPacketSize);
      const code = body.readInt32BE(0);
      if (code === StartupCode.SSLRequest && !sslDone) {
        if (body.length !== 4) throw new ClientError('STARTUP_INVALID', 'invalid length of SSLRequest');
        if (reader.buffered > 0) {
          // Data after SSLRequest before our answer would be read as plain text: a protocol violation (and a known injection vector).
          throw new ClientError('STARTUP_INVALID', 'received unencrypted data after SSL request');
        }
        if (!opts.secureContext) {
          current.write(SSL_NO);
          sslDone = true;
          gssDone = false;
          continue;
        }
        reader.detach();
        current.write(SSL_YES);
        const tlsSocket = await upgradeToTls(current, opts.secureContext);
        current = tlsSocket;
        tls = true;
        servername = tlsSocket.servername || undefined;
        reader.rebind(tlsSocket);
        sslDone = true;
        gssDone = true;
        continue;
      }
      if (code === StartupCode.GSSENCRequest && !gssDone) {
        if (body.length !== 4) throw new ClientError('STARTUP_INVALID', 'invalid length of GSSENCRequest');
        current.write(SSL_NO); // same single byte 'N': GSSAPI encryption is not offered
        sslDone = false;
        gssDone = true;
        continue;
      }
      if (code === StartupCode.CancelRequest) {
        if (body.length !== 12) throw new ClientError('STARTUP_INVALID', 'invalid length of CancelRequest');
        reader.detach();
        return { kind: 'cancel', key: { pid: body.readInt32BE(4), secret: body.readInt32BE(8) } };
      }
      const major = code >>> 16;
      const minor = code & 0xffff;
      if (major !== 3) {
        throw new ClientError('PROTOCOL_UNSUPPORTED', `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.${SUPPORTED_MINOR}`);
      }
      const { params, options } = parseStartupParams(body);
      if (minor > SUPPORTED_MINOR || options.length > 0) {
        current.write(negotiateProtocolVersion(SUPPORTED_MINOR, options));
      }
      if (!params.get('user')) throw new ClientError('USER_MISSING', 'no PostgreSQL user name specified in startup packet');
      return { kind: 'startup', socket: current, reader, params, tls, servername };
    }
  } catch (err) {
    // Keep the (possibly TLS) socket reachable so the caller can send the ErrorResponse on the right layer.
    if (err instanceof ClientError) (err as ClientError & { socket?: Socket }).socket = current;
    throw err;
  }
}
