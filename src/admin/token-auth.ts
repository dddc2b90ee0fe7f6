// Bearer-token check for the admin API: hashes compared in constant time, so neither a token's content nor its length leaks.
import { createHash, timingSafeEqual } from 'node:crypto';

export interface AdminToken {
  name: string;
  token: string;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Returns a function mapping an Authorization header to the matching token's name, or undefined. */
export function tokenAuthenticator(tokens: readonly AdminToken[]): (authorization: string | undefined) => string | undefined {
  const known = tokens.map((t) => ({ name: t.name, hash: digest(t.token) }));
  return (authorization) => {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization ?? '');
    const presented = digest(m ? m[1]! : '');
    let match: string | undefined;
    // Compare against every token, without stopping at a match, so timing does not say which one matched.
    for (const k of known) if (timingSafeEqual(k.hash, presented) && m && match === undefined) match = k.name;
    return match;
  };
}
