// The server side of md5 authentication: a random 4-byte salt out, a PasswordMessage back, checked against the stored md5 hash.
// https://www.postgresql.org/docs/current/auth-password.html
import { randomBytes } from 'node:crypto';
import { md5Response } from './md5.js';
import { safeEqual } from './scram-crypto.js';

export class Md5Server {
  readonly salt: Buffer;
  /** `md5` + hex(md5(password + user)); undefined for a mock exchange (unknown user), which always fails. */
  private readonly stored: string | undefined;
  private used = false;

  constructor(storedHash: string | undefined, salt: Buffer = randomBytes(4)) {
    this.stored = storedHash;
    this.salt = salt;
  }

  /**
   * Checks a PasswordMessage body (`md5<32 hex>\0`). Returns false for a wrong or malformed answer and for any
   * second attempt; never throws.
   */
  verify(body: Buffer): boolean {
    if (this.used) return false;
    this.used = true;
    const nul = body.indexOf(0);
    const answer = body.subarray(0, nul < 0 ? body.length : nul);
    // Compute the expected answer even for a mock exchange so both paths cost the same.
    const expected = Buffer.from(md5Response(this.stored ?? 'md5' + '0'.repeat(32), this.salt), 'latin1');
    return safeEqual(answer, expected) && this.stored !== undefined;
  }
}
