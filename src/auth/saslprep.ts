// SASLprep (RFC 4013) of passwords as PostgreSQL applies it before SCRAM, falling back to the raw password as PostgreSQL does when the profile rejects it.

// RFC 3454 C.1.2: non-ASCII spaces, mapped to U+0020.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
// RFC 3454 B.1: characters commonly mapped to nothing.
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;
// RFC 3454 C.2 (controls), C.3 (private use), C.4 (non-characters), C.5 (surrogates, i.e. lone halves), C.6-C.9.
const PROHIBITED =
  /[\u0000-\u001F\u007F-\u009F\u06DD\u070F\u180E\u200C-\u200F\u2028-\u202E\u2060-\u2063\u206A-\u206F\uD800-\uDFFF\uE000-\uF8FF\uFDD0-\uFDEF\uFEFF\uFFF9-\uFFFF]|[\u{1D173}-\u{1D17A}\u{E0001}\u{E0020}-\u{E007F}\u{F0000}-\u{10FFFF}]/u;

/**
 * The string PostgreSQL would feed to PBKDF2 for `password`. Pure ASCII passes through untouched (PostgreSQL's fast
 * path); otherwise map, normalise with NFKC and check for prohibited characters. Where the profile rejects the
 * password, PostgreSQL uses the raw bytes, and so do we. Unassigned code points (RFC 3454 A.1) are not checked.
 */
export function saslprep(password: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7F]*$/.test(password)) return password;
  const mapped = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
  if (mapped.length === 0 || PROHIBITED.test(mapped)) return password;
  return mapped;
}
