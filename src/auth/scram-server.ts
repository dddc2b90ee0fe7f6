// The server side of one SCRAM-SHA-256 exchange (RFC 5802, RFC 7677): client-first → server-first, client-final → server-final, recovering the client's ClientKey for pass-through.
// Wire format of the carrying messages: https://www.postgresql.org/docs/current/sasl-authentication.html
import { hmac, makeNonce, safeEqual, sha256, xor, type ScramVerifier } from './scram-crypto.js';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';

/** Why an exchange failed; `protocol` reasons are the client's bugs (08P01), the others a failed login (28P01). */
export type ScramFailure = 'malformed' | 'channel_binding' | 'unsupported' | 'nonce_mismatch' | 'wrong_proof';

export class ScramServerError extends Error {
  readonly reason: ScramFailure;
  constructor(reason: ScramFailure, message: string) {
    super(message);
    this.name = 'ScramServerError';
    this.reason = reason;
  }
  /** Whether the client broke the protocol, as opposed to presenting a wrong password. */
  get protocol(): boolean {
    return this.reason !== 'wrong_proof' && this.reason !== 'nonce_mismatch';
  }
}

/** A SASLInitialResponse body: the chosen mechanism and the client-first message. */
export interface SaslInitialResponse {
  mechanism: string;
  data: Buffer;
}

/** Parses a SASLInitialResponse ('p') body: mechanism\0, int32 length (-1: none), data. */
export function parseSaslInitialResponse(body: Buffer): SaslInitialResponse {
  const nul = body.indexOf(0);
  if (nul <= 0 || body.length < nul + 5) throw new ScramServerError('malformed', 'malformed SASLInitialResponse message');
  const mechanism = body.toString('utf8', 0, nul);
  const len = body.readInt32BE(nul + 1);
  const start = nul + 5;
  if (len < 0 || start + len !== body.length) throw new ScramServerError('malformed', 'malformed SASLInitialResponse message');
  return { mechanism, data: body.subarray(start) };
}

const NONCE = /^[\x21-\x2B\x2D-\x7E]+$/; // printable ASCII except ','
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function malformed(what: string): never {
  throw new ScramServerError('malformed', `malformed SCRAM message (${what})`);
}

export interface ScramServerOptions {
  /** The server's part of the nonce; random by default (tests pin it to replay RFC 7677). */
  serverNonce?: string;
  /** A mock exchange for an unknown user or unusable credential: it runs the same steps and always fails. */
  mock?: boolean;
}

/** The outcome of a successful exchange: the server-final message and the keys pass-through needs. */
export interface ScramSuccess {
  serverFinal: string;
  clientKey: Buffer;
  serverKey: Buffer;
}

/**
 * One exchange, driven by the client's two messages. Messages are handled as latin1 strings so every byte the
 * client sent goes into the AuthMessage unchanged. Each method throws ScramServerError on failure; after a
 * throw the exchange is over.
 */
export class ScramServer {
  private state: 'first' | 'final' | 'done' = 'first';
  private readonly verifier: ScramVerifier;
  private readonly serverNonce: string;
  private readonly mock: boolean;
  private gs2Header = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';

  constructor(verifier: ScramVerifier, opts: ScramServerOptions = {}) {
    this.verifier = verifier;
    this.serverNonce = opts.serverNonce ?? makeNonce();
    this.mock = opts.mock ?? false;
  }

  /** client-first-message → server-first-message. */
  clientFirst(message: Buffer | string): string {
    if (this.state !== 'first') malformed('unexpected client-first message');
    this.state = 'done';
    const msg = typeof message === 'string' ? message : message.toString('latin1');
    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    const c1 = msg.indexOf(',');
    const c2 = c1 < 0 ? -1 : msg.indexOf(',', c1 + 1);
    if (c2 < 0) malformed('no GS2 header');
    const flag = msg.slice(0, c1);
    if (flag.startsWith('p=')) {
      throw new ScramServerError('channel_binding', 'channel binding is not supported: the server did not offer SCRAM-SHA-256-PLUS');
    }
    if (flag !== 'n' && flag !== 'y') malformed('unknown channel binding flag');
    if (c2 !== c1 + 1) throw new ScramServerError('unsupported', 'client uses an authorization identity, which is not supported');
    this.gs2Header = msg.slice(0, c2 + 1);
    this.clientFirstBare = msg.slice(c2 + 1);
    const attrs = this.clientFirstBare.split(',');
    if (attrs[0]?.startsWith('m=')) throw new ScramServerError('unsupported', 'client requires an unsupported SCRAM extension');
    // The user name here is ignored, as PostgreSQL does: the StartupMessage's user is authoritative.
    if (!attrs[0]?.startsWith('n=')) malformed('no user name attribute');
    const r = attrs[1];
    if (r === undefined || !r.startsWith('r=')) malformed('no nonce attribute');
    const clientNonce = r.slice(2);
    if (!NONCE.test(clientNonce)) malformed('invalid nonce');
    this.nonce = clientNonce + this.serverNonce;
    const v = this.verifier;
    this.serverFirst = `r=${this.nonce},s=${v.salt.toString('base64')},i=${v.iterations}`;
    this.state = 'final';
    return this.serverFirst;
  }

  /** client-final-message → server-final-message and the recovered keys. */
  clientFinal(message: Buffer | string): ScramSuccess {
    if (this.state !== 'final') malformed('unexpected client-final message');
    this.state = 'done';
    const msg = typeof message === 'string' ? message : message.toString('latin1');
    const p = msg.lastIndexOf(',p=');
    if (p < 0) malformed('no proof');
    const withoutProof = msg.slice(0, p);
    const proofText = msg.slice(p + 3);
    const attrs = withoutProof.split(',');
    const c = attrs[0];
    if (c === undefined || !c.startsWith('c=') || !BASE64.test(c.slice(2))) malformed('no channel binding attribute');
    if (Buffer.from(c.slice(2), 'base64').toString('latin1') !== this.gs2Header) {
      throw new ScramServerError('channel_binding', 'SCRAM channel binding check failed');
    }
    const r = attrs[1];
    if (r === undefined || !r.startsWith('r=')) malformed('no nonce attribute');
    if (!BASE64.test(proofText)) malformed('invalid proof encoding');
    const proof = Buffer.from(proofText, 'base64');
    if (proof.length !== 32) malformed('invalid proof length');
    // Constant-time even for the nonce: it is not secret, but there is no reason to answer faster on a mismatch.
    const nonceOk = safeEqual(Buffer.from(r.slice(2), 'latin1'), Buffer.from(this.nonce, 'latin1'));
    const authMessage = Buffer.from(`${this.clientFirstBare},${this.serverFirst},${withoutProof}`, 'latin1');
    const v = this.verifier;
    const clientKey = xor(proof, hmac(v.storedKey, authMessage));
    const proofOk = safeEqual(sha256(clientKey), v.storedKey);
    if (!nonceOk) throw new ScramServerError('nonce_mismatch', 'SCRAM nonce mismatch');
    if (!proofOk || this.mock) throw new ScramServerError('wrong_proof', 'SCRAM proof mismatch');
    return {
      serverFinal: `v=${hmac(v.serverKey, authMessage).toString('base64')}`,
      clientKey,
      serverKey: v.serverKey,
    };
  }
}
