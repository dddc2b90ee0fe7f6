// Where a client's expected secret comes from: the tenant's configured users first, then its authQuery on the upstream, cached with a TTL and looked up once at a time per (tenant, user).
import type { AuthConfig } from '../config/index.js';
import { isMd5Hash } from './md5.js';
import { parseVerifier, type ScramVerifier } from './scram-crypto.js';
import { runAuthQuery, type AuthQueryRequest } from './auth-query.js';

/** What pgporter holds for one user. Never log one of these. */
export type Credential =
  | { kind: 'plain'; password: string }
  | ({ kind: 'scram' } & ScramVerifier)
  | { kind: 'md5'; hash: string };

/** Resolves the credential for a user of a tenant; undefined when the user does not exist or has no password. */
export interface CredentialSource {
  lookup(tenantId: string, user: string): Promise<Credential | undefined>;
}

/**
 * Reads a stored secret the way PostgreSQL does (pg_authid.rolpassword): a SCRAM verifier, an md5 hash, or else a
 * plain password. Null or empty means "no password": nobody can log in with one.
 */
export function parseStoredSecret(text: string | null | undefined): Credential | undefined {
  if (text === null || text === undefined || text === '') return undefined;
  if (text.startsWith('SCRAM-SHA-256$')) {
    const v = parseVerifier(text);
    return v ? { kind: 'scram', ...v } : undefined;
  }
  if (isMd5Hash(text)) return { kind: 'md5', hash: text };
  return { kind: 'plain', password: text };
}

/** What the resolver needs to know about a tenant: its auth config and where its upstream listens. */
export interface TenantAuthTarget {
  auth: AuthConfig;
  /** The auth query connects the way the tenant's pool does: same host, port, TLS mode and CA bundle. */
  upstream?: UpstreamAddress | undefined;
  /** Or, for a tenant with several servers, the hinted primary (else the first), unless `upstreamFor` picks a live one. */
  upstreams?: (UpstreamAddress & { role?: 'primary' | 'replica' | undefined })[] | undefined;
}

type UpstreamAddress = { host: string; port: number; tls?: 'disable' | 'require' | 'verify-full'; caFile?: string | undefined };

export interface CredentialResolverOptions {
  /** The tenant's current settings; called on every lookup so config reloads apply. */
  tenant(id: string): TenantAuthTarget | undefined;
  /** Runs an auth query; defaults to connecting to the upstream. Tests substitute a fake. */
  query?: (req: AuthQueryRequest) => Promise<Credential | undefined>;
  /** Clock in ms; tests substitute a fake. */
  now?: () => number;
  /** For tenants with several servers: the one to query now (a live one, the writer first). */
  upstreamFor?: (tenantId: string) => UpstreamAddress | undefined;
  /** Cache entries kept at most (oldest dropped first). Default 10000. */
  maxCacheEntries?: number;
}

interface CacheEntry {
  credential: Credential | undefined;
  expires: number;
}

/** The CredentialSource pgporter uses: config users, then a cached authQuery. */
export class CredentialResolver implements CredentialSource {
  private readonly opts: CredentialResolverOptions;
  private readonly query: (req: AuthQueryRequest) => Promise<Credential | undefined>;
  private readonly now: () => number;
  private readonly maxEntries: number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<Credential | undefined>>();
  // Parsed config users per (frozen) auth config object, so a reload is picked up and nothing is parsed twice.
  private readonly configUsers = new WeakMap<AuthConfig, Map<string, Credential>>();

  constructor(opts: CredentialResolverOptions) {
    this.opts = opts;
    this.query = opts.query ?? runAuthQuery;
    this.now = opts.now ?? Date.now;
    this.maxEntries = opts.maxCacheEntries ?? 10_000;
  }

  /** Resolves a user's credential; rejects (with the auth query's error) only when the lookup itself failed. */
  async lookup(tenantId: string, user: string): Promise<Credential | undefined> {
    const tenant = this.opts.tenant(tenantId);
    if (!tenant) return undefined;
    const fromConfig = this.usersOf(tenant.auth).get(user);
    if (fromConfig) return fromConfig;
    const aq = tenant.auth.authQuery;
    if (!aq) return undefined;

    const key = `${tenantId}\0${user}`;
    const hit = this.cache.get(key);
    if (hit) {
      if (hit.expires > this.now()) return hit.credential;
      this.cache.delete(key);
    }
    const running = this.inflight.get(key);
    if (running) return running;

    const up = tenant.upstream ?? this.opts.upstreamFor?.(tenantId) ?? tenant.upstreams?.find((u) => u.role === 'primary') ?? tenant.upstreams?.[0];
    if (!up) return undefined;
    const p = this.query({
      tenantId,
      host: up.host,
      port: up.port,
      ...(up.tls !== undefined ? { tls: up.tls } : {}),
      ...(up.caFile !== undefined ? { caFile: up.caFile } : {}),
      user: aq.user,
      ...(aq.password !== undefined ? { password: aq.password } : {}),
      database: aq.database,
      query: aq.query,
      lookupUser: user,
      timeoutMs: tenant.auth.timeout,
    })
      .then((credential) => {
        this.remember(key, credential, credential ? aq.cacheTtl : aq.negativeCacheTtl);
        return credential;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** Forgets cached lookups: all of them, a tenant's, or one user's (after a password change). */
  invalidate(tenantId?: string, user?: string): void {
    if (tenantId === undefined) return this.cache.clear();
    const prefix = user === undefined ? `${tenantId}\0` : `${tenantId}\0${user}`;
    for (const k of this.cache.keys()) if (user === undefined ? k.startsWith(prefix) : k === prefix) this.cache.delete(k);
  }

  /** Cached entries (for metrics and tests). */
  get cacheSize(): number {
    return this.cache.size;
  }

  private remember(key: string, credential: Credential | undefined, ttl: number): void {
    if (ttl <= 0) return;
    this.cache.delete(key);
    while (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(key, { credential, expires: this.now() + ttl });
  }

  private usersOf(auth: AuthConfig): Map<string, Credential> {
    let users = this.configUsers.get(auth);
    if (!users) {
      users = new Map();
      for (const u of auth.users) {
        const c = u.password !== undefined ? { kind: 'plain' as const, password: u.password } : parseStoredSecret(u.scramVerifier ?? u.md5);
        if (c) users.set(u.name, c);
      }
      this.configUsers.set(auth, users);
    }
    return users;
  }
}
