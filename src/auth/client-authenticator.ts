// Drives one client's authentication (sans I/O): picks the exchange from the tenant's method and the user's credential, answers each 'p' message, and ends with success plus an UpstreamSecret, or a ClientError.
import { createHmac, randomBytes } from 'node:crypto';
import { ClientError } from '../errors.js';
import { AUTH_OK, authMd5, authSasl, authSaslContinue, authSaslFinal } from '../protocol/index.js';
import type { Credential, CredentialSource } from './credentials.js';
import { md5Stored } from './md5.js';
import { Md5Server } from './md5-server.js';
import { DEFAULT_ITERATIONS, deriveVerifier, type ScramVerifier } from './scram-crypto.js';
import { parseSaslInitialResponse, SCRAM_MECHANISM, ScramServer, ScramServerError } from './scram-server.js';
import type { UpstreamSecret } from './upstream-login.js';

export type AuthMethod = 'scram-sha-256' | 'md5' | 'trust';

/** Why a login failed, for logs and metrics only (the client always sees the same message). */
export type AuthFailureReason = 'unknown_user' | 'wrong_password' | 'unusable_credential' | 'protocol' | 'lookup_failed';

export type AuthDone =
  | { ok: true; method: AuthMethod; upstreamSecret: UpstreamSecret }
  | { ok: false; error: ClientError; reason: AuthFailureReason };

/**
 * One step of the exchange. Send `reply` (fully framed backend messages) when present. When `done` is set the
 * exchange is over: on success `reply` already ends with AuthenticationOk, and the caller continues with
 * ParameterStatus/BackendKeyData/ReadyForQuery; on failure the caller waits `failureDelay`, then sends
 * `done.error.toErrorResponse()` and closes.
 */
export interface AuthStep {
  reply?: Buffer;
  done?: AuthDone;
}

export interface ClientAuthenticatorOptions {
  method: AuthMethod;
  credentials: CredentialSource;
  tenantId: string;
  user: string;
  /** Test hooks: pin the SCRAM server nonce or the md5 salt. */
  serverNonce?: string;
  md5Salt?: Buffer;
}

// Unknown users get a SCRAM exchange with a salt derived from their name, so asking twice shows the same salt and
// nothing distinguishes them from real users until the proof fails (PostgreSQL does the same with its mock salt).
const MOCK_SECRET = randomBytes(32);

function mockVerifier(tenantId: string, user: string): ScramVerifier {
  const h = createHmac('sha256', MOCK_SECRET).update(`${tenantId}\0${user}`).digest();
  return { iterations: DEFAULT_ITERATIONS, salt: h.subarray(0, 16), storedKey: randomBytes(32), serverKey: randomBytes(32) };
}

// A plain password gets one verifier per credential object, derived once (PBKDF2 off the event loop).
const derived = new WeakMap<Credential, Promise<ScramVerifier>>();

function verifierFor(c: Credential & { kind: 'plain' }): Promise<ScramVerifier> {
  let p = derived.get(c);
  if (!p) {
    p = deriveVerifier(c.password);
    derived.set(c, p);
  }
  return p;
}

type State =
  | { name: 'new' }
  | { name: 'sasl-initial'; server: ScramServer; credential: Credential | undefined; failReason: AuthFailureReason }
  | { name: 'sasl-final'; server: ScramServer; credential: Credential | undefined; failReason: AuthFailureReason }
  | { name: 'md5'; server: Md5Server; credential: Credential | undefined; failReason: AuthFailureReason }
  | { name: 'done' };

/**
 * Usage: `const a = new ClientAuthenticator({...})`; send `(await a.start()).reply`; for each 'p' message from the
 * client, `await a.receive(body)` (body without type byte and length) until a step has `done`. Never rejects.
 * The caller enforces the auth timeout and should cap the 'p' message size (a few kB is plenty).
 */
export class ClientAuthenticator {
  private readonly opts: ClientAuthenticatorOptions;
  private state: State = { name: 'new' };

  constructor(opts: ClientAuthenticatorOptions) {
    this.opts = opts;
  }

  /** Looks the user up and produces the first request (AuthenticationSASL or MD5Password), or finishes at once for trust. */
  async start(): Promise<AuthStep> {
    try {
      return await this.begin();
    } catch (err) {
      return this.finish({ ok: false, error: new ClientError('INTERNAL', 'internal error in pgporter', { cause: err }), reason: 'protocol' });
    }
  }

  private async begin(): Promise<AuthStep> {
    if (this.state.name !== 'new') return this.finish({ ok: false, error: this.protocolError('authentication already started'), reason: 'protocol' });
    const { method, tenantId, user } = this.opts;
    let credential: Credential | undefined;
    try {
      credential = await this.opts.credentials.lookup(tenantId, user);
    } catch (err) {
      if (method === 'trust') credential = undefined;
      else {
        return this.finish({ ok: false, error: new ClientError('AUTH_QUERY_FAILED', `could not look up credentials for user "${user}"`, { cause: err }), reason: 'lookup_failed' });
      }
    }

    if (method === 'trust') {
      return this.finish({ ok: true, method, upstreamSecret: secretWithoutExchange(credential) }, AUTH_OK);
    }
    // md5 is used when the method asks for it and the credential allows it; a SCRAM-only verifier forces SCRAM, as in PostgreSQL.
    if (method === 'md5' && credential?.kind !== 'scram') {
      const stored = credential?.kind === 'plain' ? md5Stored(credential.password, user) : credential?.kind === 'md5' ? credential.hash : undefined;
      const server = new Md5Server(stored, this.opts.md5Salt);
      this.state = { name: 'md5', server, credential, failReason: credential ? 'wrong_password' : 'unknown_user' };
      return { reply: authMd5(server.salt) };
    }
    let verifier: ScramVerifier;
    let mock = false;
    let failReason: AuthFailureReason = 'wrong_password';
    if (credential?.kind === 'scram') verifier = credential;
    else if (credential?.kind === 'plain') verifier = await verifierFor(credential);
    else {
      // Unknown user, or only an md5 hash under scram-sha-256 (which cannot check a SCRAM proof): a mock exchange that fails.
      verifier = mockVerifier(tenantId, user);
      mock = true;
      failReason = credential ? 'unusable_credential' : 'unknown_user';
    }
    const server = new ScramServer(verifier, { mock, ...(this.opts.serverNonce !== undefined ? { serverNonce: this.opts.serverNonce } : {}) });
    this.state = { name: 'sasl-initial', server, credential, failReason };
    return { reply: authSasl([SCRAM_MECHANISM]) };
  }

  /** Handles one PasswordMessage / SASLInitialResponse / SASLResponse body. */
  async receive(body: Buffer): Promise<AuthStep> {
    const s = this.state;
    try {
      switch (s.name) {
        case 'md5': {
          if (!s.server.verify(body)) return this.fail(s.failReason);
          const c = s.credential!;
          return this.finish({ ok: true, method: 'md5', upstreamSecret: c.kind === 'plain' ? { kind: 'password', password: c.password } : secretWithoutExchange(c) }, AUTH_OK);
        }
        case 'sasl-initial': {
          const init = parseSaslInitialResponse(body);
          if (init.mechanism !== SCRAM_MECHANISM) {
            throw new ScramServerError('unsupported', 'client selected an invalid SASL authentication mechanism');
          }
          const serverFirst = s.server.clientFirst(init.data);
          this.state = { ...s, name: 'sasl-final' };
          return { reply: authSaslContinue(serverFirst) };
        }
        case 'sasl-final': {
          const r = s.server.clientFinal(body);
          const c = s.credential!;
          const upstreamSecret: UpstreamSecret =
            c.kind === 'plain'
              ? { kind: 'password', password: c.password }
              : c.kind === 'scram'
                ? { kind: 'scram-keys', clientKey: r.clientKey, serverKey: r.serverKey, salt: c.salt, iterations: c.iterations }
                : NO_SECRET;
          return this.finish({ ok: true, method: 'scram-sha-256', upstreamSecret }, Buffer.concat([authSaslFinal(r.serverFinal), AUTH_OK]));
        }
        default:
          return this.finish({ ok: false, error: this.protocolError('unexpected password message'), reason: 'protocol' });
      }
    } catch (err) {
      if (err instanceof ScramServerError) {
        if (err.protocol) return this.finish({ ok: false, error: this.protocolError(err.message), reason: 'protocol' });
        return this.fail(s.name === 'sasl-final' || s.name === 'sasl-initial' ? s.failReason : 'wrong_password');
      }
      return this.finish({ ok: false, error: new ClientError('INTERNAL', 'internal error in pgporter', { cause: err }), reason: 'protocol' });
    }
  }

  private fail(reason: AuthFailureReason): AuthStep {
    return this.finish({
      ok: false,
      error: new ClientError('AUTH_FAILED', `password authentication failed for user "${this.opts.user}"`),
      reason,
    });
  }

  private protocolError(message: string): ClientError {
    return new ClientError('AUTH_PROTOCOL', message);
  }

  private finish(done: AuthDone, reply?: Buffer): AuthStep {
    this.state = { name: 'done' };
    return reply ? { reply, done } : { done };
  }
}

/** No secret: one object for every session that has none (each keeps it for as long as it lives). */
const NO_SECRET: UpstreamSecret = Object.freeze({ kind: 'none' });

/** What pgporter can log in upstream with when the client proved nothing that yields a key (trust, md5 hash). */
function secretWithoutExchange(c: Credential | undefined): UpstreamSecret {
  if (c?.kind === 'plain') return { kind: 'password', password: c.password };
  if (c?.kind === 'md5') return { kind: 'md5-hash', hash: c.hash };
  return NO_SECRET;
}
