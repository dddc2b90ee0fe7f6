// Logs pgporter in to a server with what client authentication produced: SCRAM from a password or from a recovered ClientKey, md5 from a password or a stored hash, cleartext, trust.
// Messages: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
import { createHash } from 'node:crypto';
import { PgporterError } from '../errors.js';
import { AuthCode, Frontend, message } from '../protocol/index.js';
import { md5Response, md5Stored } from './md5.js';
import { deriveClientKeys, hmac, makeNonce, MAX_ITERATIONS, safeEqual, sha256, xor, type ScramClientKeys } from './scram-crypto.js';
import { SCRAM_MECHANISM } from './scram-server.js';

/**
 * What pgporter may use to log in to the server as the client's user. Produced by ClientAuthenticator; never log it.
 * - password: the plain password (from the config or a cleartext credential); works with every server method.
 * - scram-keys: ClientKey recovered from the client's SCRAM proof plus the ServerKey; works only against a server
 *   whose verifier has the same salt and iterations (true when the verifier came from that server's authQuery).
 * - md5-hash: the stored `md5…` hash; works against md5 servers.
 * - none: nothing known (trust); works only when the server trusts pgporter.
 */
export type UpstreamSecret =
  | { kind: 'password'; password: string }
  | { kind: 'scram-keys'; clientKey: Buffer; serverKey: Buffer; salt?: Buffer; iterations?: number }
  | { kind: 'md5-hash'; hash: string }
  | { kind: 'none' };

export type UpstreamAuthCode = 'UPSTREAM_AUTH_UNSUPPORTED' | 'UPSTREAM_AUTH_FAILED';

/** The server asked for something pgporter cannot give with this secret, or answered the exchange wrongly. */
export class UpstreamAuthError extends PgporterError {
  constructor(code: UpstreamAuthCode, message: string) {
    super(code, code === 'UPSTREAM_AUTH_UNSUPPORTED' ? 'upstream_auth_unsupported' : 'upstream_auth_failed', 'server', message);
    this.name = 'UpstreamAuthError';
  }
}

// Deriving keys from a password costs thousands of HMACs; a pool opening many servers for one user should pay once.
const KEY_CACHE_MAX = 256;
const keyCache = new Map<string, Promise<ScramClientKeys>>();

function cachedClientKeys(password: string, salt: Buffer, iterations: number): Promise<ScramClientKeys> {
  // The key is a hash, so the cache holds no password in the clear.
  const id = createHash('sha256').update(password).update('\0').update(salt).update(`\0${iterations}`).digest('base64');
  let p = keyCache.get(id);
  if (!p) {
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value!);
    p = deriveClientKeys(password, salt, iterations);
    p.catch(() => keyCache.delete(id));
    keyCache.set(id, p);
  }
  return p;
}

const passwordMessage = (body: Buffer): Buffer => message(Frontend.Password, body);
const cstring = (s: string): Buffer => Buffer.from(s + '\0', 'utf8');

function saslInitialResponse(mechanism: string, data: string): Buffer {
  const d = Buffer.from(data, 'latin1');
  const len = Buffer.allocUnsafe(4);
  len.writeInt32BE(d.length, 0);
  return passwordMessage(Buffer.concat([cstring(mechanism), len, d]));
}

/**
 * Answers a server's authentication requests, one at a time (sans I/O). Shaped to fit `UpstreamAuthenticator` in
 * src/upstream: `respond(code, data)` gets the AuthenticationXXX subtype and its payload (md5 salt, SASL mechanism
 * list as NUL-separated names, SASL data) and resolves to the framed message to send, or undefined when nothing is
 * sent (SASLFinal, Ok). It rejects with UpstreamAuthError when the request cannot be met or the server's SCRAM
 * signature is wrong. The server's AuthenticationOk must be passed in as code 0 (src/upstream's connectUpstream
 * does): that is where an unfinished exchange, or a server that skipped the one it owed, is refused.
 */
export class UpstreamAuth {
  private readonly user: string;
  private readonly secret: UpstreamSecret;
  private readonly clientNonce: string;
  private scram: { state: 'sent-first' | 'sent-final' | 'done'; clientFirstBare: string; serverSignature?: Buffer } | undefined;
  private ok = false;
  /** A password (cleartext or md5) was sent: the server, not pgporter, judges it, and AuthenticationOk may follow. */
  private answered = false;

  constructor(user: string, secret: UpstreamSecret, opts: { clientNonce?: string } = {}) {
    this.user = user;
    this.secret = secret;
    this.clientNonce = opts.clientNonce ?? makeNonce();
  }

  /** True once the server said AuthenticationOk and any SCRAM exchange was verified. */
  get complete(): boolean {
    return this.ok || (this.scram?.state === 'done');
  }

  /**
   * Throws unless the server may now be trusted: a SCRAM exchange that was started must have ended with a verified
   * SASLFinal, and a server that never asked for anything is trusted only when pgporter holds no secret for the user
   * (holding one means the server is expected to ask for it; a server that does not may be an impostor that never
   * saw the verifier, and SCRAM is the only proof pgporter gets on a connection that is not verify-full).
   */
  assertComplete(): void {
    if (this.scram && this.scram.state !== 'done') {
      throw new UpstreamAuthError('UPSTREAM_AUTH_FAILED', 'server ended the SCRAM exchange early without proving its identity');
    }
    // Keys or a hash read from the server's own catalogue mean the server itself holds a password for this user: an
    // AuthenticationOk without asking for it is not that server. A configured password proves nothing of the kind
    // (the upstream may trust pgporter in pg_hba), so it is not refused.
    if (!this.scram && !this.answered && (this.secret.kind === 'scram-keys' || this.secret.kind === 'md5-hash')) {
      throw new UpstreamAuthError(
        'UPSTREAM_AUTH_FAILED',
        `server accepted user "${this.user}" without asking for the password pgporter holds, so it did not prove its identity`,
      );
    }
  }

  async respond(code: number, data: Buffer): Promise<Buffer | undefined> {
    switch (code) {
      case AuthCode.Ok:
        if (this.ok) throw new UpstreamAuthError('UPSTREAM_AUTH_FAILED', 'server sent AuthenticationOk twice');
        this.assertComplete();
        this.ok = true;
        return undefined;
      case AuthCode.CleartextPassword:
        if (this.secret.kind !== 'password') throw this.cannot('a cleartext password');
        this.answered = true;
        return passwordMessage(cstring(this.secret.password));
      case AuthCode.MD5Password: {
        if (data.length !== 4) throw new UpstreamAuthError('UPSTREAM_AUTH_FAILED', 'server sent a malformed md5 salt');
        const stored =
          this.secret.kind === 'password' ? md5Stored(this.secret.password, this.user) : this.secret.kind === 'md5-hash' ? this.secret.hash : undefined;
        if (stored === undefined) throw this.cannot('md5');
        this.answered = true;
        return passwordMessage(cstring(md5Response(stored, data)));
      }
      case AuthCode.SASL:
        return this.saslStart(data);
      case AuthCode.SASLContinue:
        return this.saslContinue(data.toString('latin1'));
      case AuthCode.SASLFinal:
        this.saslFinal(data.toString('latin1'));
        return undefined;
      default:
        throw new UpstreamAuthError('UPSTREAM_AUTH_UNSUPPORTED', `server asks for an authentication method pgporter does not support (code ${code})`);
    }
  }

  private cannot(what: string): UpstreamAuthError {
    return new UpstreamAuthError(
      'UPSTREAM_AUTH_UNSUPPORTED',
      `server asks for ${what} for user "${this.user}" but pgporter holds ${describe(this.secret)} for that user`,
    );
  }

  private saslStart(data: Buffer): Buffer {
    const mechanisms = data.toString('utf8').split('\0').filter((m) => m !== '');
    if (!mechanisms.includes(SCRAM_MECHANISM)) {
      throw new UpstreamAuthError('UPSTREAM_AUTH_UNSUPPORTED', `server offers no SASL mechanism pgporter supports (${mechanisms.join(', ')})`);
    }
    if (this.secret.kind !== 'password' && this.secret.kind !== 'scram-keys') throw this.cannot('SCRAM-SHA-256');
    if (this.scram) throw new UpstreamAuthError('UPSTREAM_AUTH_FAILED', 'server restarted the SASL exchange');
    // "n,,": we do not use channel binding (we never pick SCRAM-SHA-256-PLUS). The user name is taken from the startup packet.
    const clientFirstBare = `n=,r=${this.clientNonce}`;
    this.scram = { state: 'sent-first', clientFirstBare };
    return saslInitialResponse(SCRAM_MECHANISM, `n,,${clientFirstBare}`);
  }

  private async saslContinue(serverFirst: string): Promise<Buffer> {
    if (this.scram?.state !== 'sent-first') throw new UpstreamAuthError('UPSTREAM_AUTH_FAILED', 'unexpected SASLContinue from server');
    const attrs = new Map<string, string>();
    for (const part of serverFirst.split(',')) attrs.set(part.slice(0, 2), part.slice(2));
    const nonce = attrs.get('r=');
    const saltText = attrs.get('s=');
    const iterations = Number(attrs.get('i='));
    if (serverFirst.startsWith('m=')) throw new UpstreamAuthError('UPSTREAM_AUTH_UNSUPPORTED', 'server requires an unsupported SCRAM extension');
    if (!nonce || !nonce.startsWith(this.clientNonce) || nonce.length <= this.clientNonce.length || nonce.includes(',')) {
      throw new UpstreamAuthError('UPSTREAM_AUTH_FAILED', 'server sent an invalid SCRAM nonce');
    }
    if (!saltText || !Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
      throw new UpstreamAuthError('UPSTREAM_AUTH_FAILED', 'server sent an invalid SCRAM salt or iteration count');
    }
    const salt = Buffer.from(saltText, 'base64');
    let keys: ScramClientKeys;
    if (this.secret.kind === 'password') {
      keys = await cachedClientKeys(this.secret.password, salt, iterations);
    } else if (this.secret.kind === 'scram-keys') {
      const s = this.secret;
      if ((s.salt && !s.salt.equals(salt)) || (s.iterations !== undefined && s.iterations !== iterations)) {
        throw new UpstreamAuthError(
          'UPSTREAM_AUTH_UNSUPPORTED',
          `the server's SCRAM verifier for user "${this.user}" differs from the one the client was checked against, so pass-through cannot work; configure a password`,
        );
      }
      keys = { clientKey: s.clientKey, serverKey: s.serverKey };
    } else {
      throw this.cannot('SCRAM-SHA-256');
    }
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = Buffer.from(`${this.scram.clientFirstBare},${serverFirst},${withoutProof}`, 'latin1');
    const proof = xor(keys.clientKey, hmac(sha256(keys.clientKey), authMessage));
    this.scram.serverSignature = hmac(keys.serverKey, authMessage);
    this.scram.state = 'sent-final';
    return passwordMessage(Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'latin1'));
  }

  private saslFinal(serverFinal: string): void {
    if (this.scram?.state !== 'sent-final') throw new UpstreamAuthError('UPSTREAM_AUTH_FAILED', 'unexpected SASLFinal from server');
    if (serverFinal.startsWith('e=')) throw new UpstreamAuthError('UPSTREAM_AUTH_FAILED', `server rejected the SCRAM exchange: ${serverFinal.slice(2, 200)}`);
    const v = /^v=([A-Za-z0-9+/=]+)/.exec(serverFinal);
    if (!v || !safeEqual(Buffer.from(v[1]!, 'base64'), this.scram.serverSignature!)) {
      throw new UpstreamAuthError('UPSTREAM_AUTH_FAILED', 'server SCRAM signature is wrong: it does not know the verifier');
    }
    this.scram.state = 'done';
  }
}

function describe(s: UpstreamSecret): string {
  switch (s.kind) {
    case 'password':
      return 'a password';
    case 'scram-keys':
      return 'only SCRAM keys';
    case 'md5-hash':
      return 'only an md5 hash';
    case 'none':
      return 'no secret';
  }
}
