// SCRAM-SHA-256 arithmetic (RFC 5802 §3, RFC 7677): key derivation, verifiers in PostgreSQL's text form, proofs and signatures.
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { saslprep } from './saslprep.js';

/** PostgreSQL's default iteration count (scram_iterations) for verifiers pgporter derives itself. */
export const DEFAULT_ITERATIONS = 4096;

/**
 * Iteration counts above this are refused: a hostile server or a bad verifier must not make pgporter burn
 * seconds of CPU per login. PostgreSQL accepts up to INT_MAX; nobody sensible goes past a million.
 */
export const MAX_ITERATIONS = 1_000_000;

/** The server-side secret for one role: what `pg_authid.rolpassword` holds after `SCRAM-SHA-256$`. */
export interface ScramVerifier {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** The keys a client derives from its password (or that pgporter recovers from a client's proof). */
export interface ScramClientKeys {
  clientKey: Buffer;
  serverKey: Buffer;
}

export const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();
export const hmac = (key: Buffer, data: Buffer | string): Buffer => createHmac('sha256', key).update(data).digest();

export function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Equal-length buffers compared in constant time; different lengths are simply unequal. */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Hi() of RFC 5802 is PBKDF2-HMAC-SHA-256 with one output block; run off the event loop. */
export function saltedPassword(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(Buffer.from(saslprep(password), 'utf8'), salt, iterations, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** ClientKey and ServerKey from a password, for the given salt and iteration count. */
export async function deriveClientKeys(password: string, salt: Buffer, iterations: number): Promise<ScramClientKeys> {
  const sp = await saltedPassword(password, salt, iterations);
  return { clientKey: hmac(sp, 'Client Key'), serverKey: hmac(sp, 'Server Key') };
}

/** A fresh verifier for a plain password, as PostgreSQL would store it (random 16-byte salt). */
export async function deriveVerifier(password: string, iterations = DEFAULT_ITERATIONS, salt: Buffer = randomBytes(16)): Promise<ScramVerifier> {
  const { clientKey, serverKey } = await deriveClientKeys(password, salt, iterations);
  return { iterations, salt, storedKey: sha256(clientKey), serverKey };
}

const VERIFIER = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$/;

/** Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`; undefined when malformed. */
export function parseVerifier(text: string): ScramVerifier | undefined {
  const m = VERIFIER.exec(text);
  if (!m) return undefined;
  const iterations = Number(m[1]);
  const salt = Buffer.from(m[2]!, 'base64');
  const storedKey = Buffer.from(m[3]!, 'base64');
  const serverKey = Buffer.from(m[4]!, 'base64');
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) return undefined;
  if (salt.length === 0 || storedKey.length !== 32 || serverKey.length !== 32) return undefined;
  return { iterations, salt, storedKey, serverKey };
}

export function formatVerifier(v: ScramVerifier): string {
  return `SCRAM-SHA-256$${v.iterations}:${v.salt.toString('base64')}$${v.storedKey.toString('base64')}:${v.serverKey.toString('base64')}`;
}

/** A printable nonce (base64 of 18 random bytes, never containing ','). */
export function makeNonce(): string {
  return randomBytes(18).toString('base64');
}
