// Which of a tenant's servers a client's next transaction goes to, from the roles, bans and load known now: pure functions, so every rule is tested without a server.
import type { Target } from '../config/schema-ha.js';
import type { Role } from './roles.js';

/** A server as routing sees it. */
export interface Candidate {
  readonly name: string;
  readonly role: Role;
  readonly banned: boolean;
  readonly region: string | undefined;
  readonly hint: 'primary' | 'replica' | undefined;
  /** Server connections busy on it now (least-busy balancing). */
  readonly busy: number;
  /** Its machine is suspended: used for reads only when no awake replica is left. */
  readonly asleep?: boolean;
}

export interface RouteOptions {
  readonly localRegion: string | undefined;
  readonly balance: 'least-busy' | 'random';
  readonly readFallback: 'primary' | 'refuse';
  readonly preferredPrimary: string | undefined;
  readonly rand?: () => number;
}

/**
 * ok: use `name`; `readOnlySession` when a read-only client falls back to the writer (its session gets
 * default_transaction_read_only=on, so it stays read-only as it asked). wait: no writer now (failover under way):
 * wait for one. refuse: no server may serve this target (`why` says so, for the client's error).
 */
export type Route = { t: 'ok'; name: string; readOnlySession: boolean } | { t: 'wait'; why: string } | { t: 'refuse'; why: string };

/** The writer: the one primary, or under split brain the preferred one; `split` lists them when writes must be refused. */
export function findWriter(cands: readonly Candidate[], preferred: string | undefined): { name?: string; split?: string[] } {
  // Bans do not hide a second writer: a server that says it is writable is one, whatever its connection record.
  const writers = cands.filter((c) => c.role === 'primary');
  if (writers.length === 1) return { name: writers[0]!.name };
  if (writers.length === 0) return {};
  const pref = writers.find((c) => c.name === preferred);
  if (pref) return { name: pref.name };
  const hinted = writers.filter((c) => c.hint === 'primary');
  if (preferred === undefined && hinted.length === 1) return { name: hinted[0]!.name };
  return { split: writers.map((c) => c.name) };
}

/** Where a client wanting `target` goes now. */
export function route(cands: readonly Candidate[], target: Target, o: RouteOptions): Route {
  const w = findWriter(cands, o.preferredPrimary);
  const writer = (): Route =>
    w.name !== undefined
      ? { t: 'ok', name: w.name, readOnlySession: false }
      : w.split
        ? { t: 'refuse', why: `more than one server is writable (${w.split.join(', ')}): writes are refused until one is demoted` }
        : { t: 'wait', why: 'no writable server' };
  const standbys = unbannedOrAll(cands.filter((c) => c.role === 'standby'));
  switch (target) {
    case 'read-write':
    case 'primary':
      return writer();
    case 'read-only':
    case 'standby': {
      if (standbys.length) return { t: 'ok', name: pick(standbys, o), readOnlySession: false };
      if (o.readFallback === 'refuse') return { t: 'refuse', why: 'no replica is available and readFallback is refuse' };
      const r = writer();
      return r.t === 'ok' ? { ...r, readOnlySession: true } : r;
    }
    case 'prefer-standby':
      return standbys.length ? { t: 'ok', name: pick(standbys, o), readOnlySession: false } : writer();
    case 'any': {
      const all = w.name !== undefined ? [...standbys, cands.find((c) => c.name === w.name)!] : standbys;
      return all.length ? { t: 'ok', name: pick(all, o), readOnlySession: false } : writer();
    }
  }
}

/** Bans count only while something else is left: when every candidate is banned, all of them are used (serving nothing is worse). */
function unbannedOrAll(list: Candidate[]): Candidate[] {
  const ok = list.filter((c) => !c.banned);
  return ok.length ? ok : list;
}

/** Same-region and awake servers first, then least busy (ties at random) or at random. */
function pick(list: readonly Candidate[], o: RouteOptions): string {
  const rand = o.rand ?? Math.random;
  let pool = list.filter((c) => !c.asleep);
  if (!pool.length) pool = [...list];
  if (o.localRegion !== undefined) {
    const local = pool.filter((c) => c.region === o.localRegion);
    if (local.length) pool = local;
  }
  if (o.balance === 'least-busy') {
    const least = Math.min(...pool.map((c) => c.busy));
    pool = pool.filter((c) => c.busy === least);
  }
  return pool[Math.floor(rand() * pool.length)]!.name;
}

/**
 * The target a client asked for: `target_session_attrs` in its startup parameters or in `options` (`-c
 * target_session_attrs=…`), else a `-ro` suffix on the database name (read-only), else the tenant's default.
 * Returns the database without the suffix. Throws the bad value's text for an unknown target.
 */
export function clientTarget(database: string, fromOptions: string | undefined, fallback: Target, routed: boolean): { target: Target; database: string } {
  if (fromOptions !== undefined) {
    if (!isTarget(fromOptions)) throw new Error(`invalid value for parameter "target_session_attrs": "${fromOptions}"`);
    return { target: fromOptions, database };
  }
  if (routed && database.endsWith('-ro') && database.length > 3) return { target: 'read-only', database: database.slice(0, -3) };
  return { target: fallback, database };
}

const TARGET_SET = new Set<string>(['read-write', 'primary', 'read-only', 'standby', 'prefer-standby', 'any']);
export function isTarget(v: string): v is Target {
  return TARGET_SET.has(v);
}
