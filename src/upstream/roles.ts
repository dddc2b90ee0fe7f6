// What a server is, from what it says: libpq's rules over pg_is_in_recovery() / in_hot_standby and default_transaction_read_only, plus bans as values with an expiry.
// libpq's target_session_attrs: https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-TARGET-SESSION-ATTRS

/**
 * primary: writable (not in recovery, default_transaction_read_only off). standby: in recovery (a streaming replica).
 * fenced: not in recovery yet read-only (a demoted primary, Fly's zombie): nothing replicates to it, so it serves neither
 * writes nor reads. down: the last probe or login failed. unknown: never heard from.
 */
export type Role = 'primary' | 'standby' | 'fenced' | 'down' | 'unknown';

/** What one probe or login said; undefined fields were not reported. */
export interface RoleReport {
  inRecovery?: boolean | undefined;
  readOnly?: boolean | undefined;
  /** Seconds since the last replayed transaction (replicas), when known. */
  lagSeconds?: number | undefined;
}

const on = (v: string | undefined): boolean | undefined => (v === undefined ? undefined : v === 'on' || v === 'true');

/** A login's ParameterStatus (PostgreSQL 14+ reports both): in_hot_standby and default_transaction_read_only. */
export function reportFromParams(params: ReadonlyMap<string, string>): RoleReport | undefined {
  const hs = on(params.get('in_hot_standby'));
  const ro = on(params.get('default_transaction_read_only'));
  if (hs === undefined && ro === undefined) return undefined;
  return { inRecovery: hs, readOnly: ro };
}

/** libpq's read-write rule: writable only when neither recovery nor default_transaction_read_only says read-only. */
export function roleOf(r: { inRecovery?: boolean | undefined; readOnly?: boolean | undefined }): Role {
  if (r.inRecovery === undefined) return 'unknown';
  if (r.inRecovery) return 'standby';
  if (r.readOnly === undefined) return 'unknown';
  return r.readOnly ? 'fenced' : 'primary';
}

/** A ban: the server is not used until `until` (epoch ms); `strikes` failures in a row made it that long. */
export interface Ban {
  readonly until: number;
  readonly strikes: number;
}

/** The next ban after another failure: banMin doubled per strike, at most banMax, with ±10% jitter so bans of servers failing together spread out. */
export function nextBan(prev: Ban | undefined, now: number, banMinMs: number, banMaxMs: number, rand = Math.random): Ban {
  const strikes = (prev?.strikes ?? 0) + 1;
  const base = Math.min(banMaxMs, banMinMs * 2 ** Math.min(strikes - 1, 20));
  return { until: now + Math.round(base * (0.9 + rand() * 0.2)), strikes };
}

export function banned(b: Ban | undefined, now: number): boolean {
  return b !== undefined && b.until > now;
}
