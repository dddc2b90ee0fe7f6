// Config for how pgporter authenticates a tenant's clients itself: the method, users with their secrets, and the authQuery that reads verifiers from the upstream.
import { z } from 'zod';
import { duration } from './duration.js';

const SCRAM_VERIFIER = /^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/;

/** The default authQuery, PgBouncer's: works for superusers (pg_shadow) and is what most setups grant. */
export const DEFAULT_AUTH_QUERY = 'SELECT usename, passwd FROM pg_shadow WHERE usename = $1';

/** A user pgporter knows from the config file; give exactly one secret. Use ${ENV} references to keep secrets out of the file. */
export const authUserSchema = z
  .strictObject({
    name: z.string().min(1),
    /** Plain password: works with every method and lets pgporter log in to any server. */
    password: z.string().min(1).optional(),
    /** `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, as in pg_authid.rolpassword. */
    scramVerifier: z.string().regex(SCRAM_VERIFIER, 'expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>').optional(),
    /** `md5` + hex(md5(password + user)), as in pg_authid.rolpassword. */
    md5: z.string().regex(/^md5[0-9a-f]{32}$/, 'expected "md5" followed by 32 lowercase hex digits').optional(),
  })
  .refine((u) => [u.password, u.scramVerifier, u.md5].filter((s) => s !== undefined).length === 1, {
    message: 'give exactly one of password, scramVerifier, md5',
  });

export const authQuerySchema = z.strictObject({
  /** The role pgporter logs in as to run the query (PgBouncer's auth_user). */
  user: z.string().min(1),
  /** Its password; omit when the upstream trusts it. */
  password: z.string().optional(),
  /** Database to connect to for the query. Default: postgres. */
  database: z.string().min(1).default('postgres'),
  /** Takes the user name as $1; returns one row whose columns are found by name (usename/rolname, passwd/rolpassword). */
  query: z.string().min(1).default(DEFAULT_AUTH_QUERY),
  /** How long a looked-up credential is reused. Default 60s. */
  cacheTtl: duration('60s'),
  /** How long "no such user" is remembered, so unknown names do not hammer the upstream. Default 5s. */
  negativeCacheTtl: duration('5s'),
});

export const authSchema = z
  .strictObject({
    /** How clients prove who they are: scram-sha-256 (default), md5 (SCRAM still used for users with only a SCRAM verifier) or trust. */
    method: z.enum(['scram-sha-256', 'md5', 'trust']).default('scram-sha-256'),
    /** Users known from the config; looked up before authQuery. */
    users: z.array(authUserSchema).default([]),
    /** Look credentials up on the upstream; absent means only `users` can log in. */
    authQuery: authQuerySchema.optional(),
    /** Time a client has to finish authenticating. Default 10s. */
    timeout: duration('10s'),
    /** Pause before a failed login is answered, to slow down guessing. Default 500ms. */
    failureDelay: duration('500ms'),
  })
  .superRefine((a, ctx) => {
    const seen = new Set<string>();
    a.users.forEach((u, i) => {
      if (seen.has(u.name)) ctx.addIssue({ code: 'custom', path: ['users', i, 'name'], message: `duplicate user "${u.name}"` });
      seen.add(u.name);
    });
  });

export type AuthConfig = z.output<typeof authSchema>;
export type AuthUserConfig = z.output<typeof authUserSchema>;
export type AuthQueryConfig = z.output<typeof authQuerySchema>;
