// PostgreSQL's md5 password scheme: the stored `md5` + hex(md5(password + user)) and the salted response to AuthenticationMD5Password.
import { createHash } from 'node:crypto';

const md5hex = (data: Buffer | string): string => createHash('md5').update(data).digest('hex');

const STORED = /^md5[0-9a-f]{32}$/;

/** Whether `text` is a stored md5 password (`md5` followed by 32 lowercase hex digits). */
export function isMd5Hash(text: string): boolean {
  return STORED.test(text);
}

/** What PostgreSQL stores for a password under md5: `md5` + hex(md5(password + user)). */
export function md5Stored(password: string, user: string): string {
  return 'md5' + md5hex(Buffer.from(password + user, 'utf8'));
}

/** The PasswordMessage text a client sends for a stored hash and the server's 4-byte salt. */
export function md5Response(storedHash: string, salt: Buffer): string {
  return 'md5' + md5hex(Buffer.concat([Buffer.from(storedHash.slice(3), 'latin1'), salt]));
}
