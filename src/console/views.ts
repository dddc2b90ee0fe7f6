// The SHOW commands: each builds a result set from plain-data snapshots, with PgBouncer's column names where the concept is the same.
import { readFileSync } from 'node:fs';
import { parseConfig, type Config } from '../config/index.js';
import { bool, int8, text, type ResultSet, type Value } from './wire.js';
import type { ConsoleDeps, ConsoleSessionInfo } from './types.js';
import { firstUpstream } from '../upstream/index.js';
import type { StatsSampler } from './stats.js';

export const CONSOLE_DATABASE = 'pgporter';

/** PgBouncer's timestamp format: `2025-01-01 12:00:00 UTC`. */
function ts(ms: number | undefined): string | null {
  // A node alone never expires (expiresAt = MAX_SAFE_INTEGER), beyond what a Date can hold: NULL.
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0 || ms > 8.64e15) return null;
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** PgBouncer splits waits into whole seconds and the microseconds beyond them (`maxwait`, `maxwait_us`; `wait`, `wait_us`). */
function secsAndUs(ms: number): [number, number] {
  const us = Math.max(0, Math.round(ms * 1000));
  return [Math.floor(us / 1e6), us % 1e6];
}

const poolKey = (tenant: string, database: string, user: string) => `${tenant}\0${database}\0${user}`;

export function showPools(deps: ConsoleDeps): ResultSet {
  const servers = deps.pools.serversSnapshot();
  const tested = new Map<string, number>();
  for (const s of servers) if (s.state === 'resetting') tested.set(poolKey(s.tenant, s.database, s.user), (tested.get(poolKey(s.tenant, s.database, s.user)) ?? 0) + 1);
  const rows = deps.pools
    .poolsDetail()
    .sort((a, b) => a.tenant.localeCompare(b.tenant) || a.database.localeCompare(b.database) || a.user.localeCompare(b.user))
    .map((p): Value[] => {
      const t = tested.get(poolKey(p.tenant, p.database, p.user)) ?? 0;
      const [maxwait, maxwaitUs] = secsAndUs(p.maxWaitMs);
      return [p.tenant, p.database, p.user, p.clientsActive, p.clientsWaiting, p.serversActive - t, p.serversIdle, 0, t, p.serversOpening, maxwait, maxwaitUs, p.mode, p.size];
    });
  return {
    columns: [
      text('tenant'),
      text('database'),
      text('user'),
      int8('cl_active'),
      int8('cl_waiting'),
      int8('sv_active'),
      int8('sv_idle'),
      int8('sv_used'),
      int8('sv_tested'),
      int8('sv_login'),
      int8('maxwait'),
      int8('maxwait_us'),
      text('pool_mode'),
      int8('pool_size'),
    ],
    rows,
  };
}

export function showClients(deps: ConsoleDeps, consoleSessions: readonly ConsoleSessionInfo[], now = Date.now()): ResultSet {
  const rows: Value[][] = deps.pools
    .clientsSnapshot()
    .sort((a, b) => a.id - b.id)
    .map((c) => {
      const [wait, waitUs] = secsAndUs(c.waitingSince !== undefined ? now - c.waitingSince : 0);
      // PgBouncer's states: a logged-in client is `active` (linked or free to send), `waiting` while it has no server.
      const state = c.state === 'waiting' ? 'waiting' : c.state === 'closed' ? 'closing' : 'active';
      return [c.tenant, 'C', c.user, c.database, state, c.addr, c.localAddr, c.localPort, ts(c.connectedAt), ts(c.lastActive), wait, waitUs, c.serverPid, c.tls, c.applicationName, c.id];
    });
  for (const s of consoleSessions) {
    rows.push([null, 'C', s.user, CONSOLE_DATABASE, 'active', s.addr, s.localAddr, s.localPort, ts(s.connectedAt), ts(s.lastActive), 0, 0, null, s.tls, `console (${s.role})`, -s.id]);
  }
  return {
    columns: [
      text('tenant'),
      text('type'),
      text('user'),
      text('database'),
      text('state'),
      text('addr'),
      text('local_addr'),
      int8('local_port'),
      text('connect_time'),
      text('request_time'),
      int8('wait'),
      int8('wait_us'),
      int8('link'),
      bool('tls'),
      text('application_name'),
      int8('id'),
    ],
    rows,
  };
}

export function showServers(deps: ConsoleDeps): ResultSet {
  // PgBouncer's states: active (linked to a client), idle, tested (running the reset query).
  const stateOf = { idle: 'idle', syncing: 'active', active: 'active', resetting: 'tested', closed: 'closing' } as const;
  const roles = new Map((deps.pools.upstreamsSnapshot?.() ?? []).map((u) => [`${u.tenant}\0${u.name}`, u.role]));
  const rows = deps.pools
    .serversSnapshot()
    .sort((a, b) => a.tenant.localeCompare(b.tenant) || a.openedAt - b.openedAt)
    .map((s): Value[] => [
      s.tenant,
      'S',
      s.user,
      s.database,
      stateOf[s.state],
      s.addr,
      s.port,
      s.localAddr,
      s.localPort,
      ts(s.openedAt),
      ts(s.idleSince),
      s.clientId,
      s.remotePid,
      s.tls,
      s.retiring ? 1 : 0,
      s.upstream,
      roles.get(`${s.tenant}\0${s.upstream}`) ?? null,
    ]);
  return {
    columns: [
      text('tenant'),
      text('type'),
      text('user'),
      text('database'),
      text('state'),
      text('addr'),
      int8('port'),
      text('local_addr'),
      int8('local_port'),
      text('connect_time'),
      text('request_time'),
      int8('link'),
      int8('remote_pid'),
      bool('tls'),
      int8('close_needed'),
      text('upstream'),
      text('role'),
    ],
    rows,
  };
}

/** Routed tenants' servers as this node sees them: role, whether its machine sleeps, health, ban, replication lag. */
export function showUpstreams(deps: ConsoleDeps): ResultSet {
  const now = Date.now();
  const rows = (deps.pools.upstreamsSnapshot?.() ?? [])
    .sort((a, b) => a.tenant.localeCompare(b.tenant) || a.name.localeCompare(b.name))
    .map((u): Value[] => [
      u.tenant,
      u.name,
      u.host,
      u.port,
      u.region ?? null,
      u.hint ?? null,
      u.role,
      u.asleep,
      u.inRecovery ?? null,
      u.readOnly ?? null,
      u.lagSeconds === undefined ? null : u.lagSeconds.toFixed(3),
      u.bannedUntil === undefined ? 0 : Math.ceil((u.bannedUntil - now) / 1000),
      u.strikes,
      ts(u.lastOkAt),
      u.lastError ?? null,
    ]);
  return {
    columns: [
      text('tenant'),
      text('upstream'),
      text('host'),
      int8('port'),
      text('region'),
      text('hint'),
      text('role'),
      bool('asleep'),
      bool('in_recovery'),
      bool('read_only'),
      text('lag_seconds'),
      int8('banned_seconds'),
      int8('strikes'),
      text('last_ok'),
      text('last_error'),
    ],
    rows,
  };
}

export async function showStats(stats: StatsSampler): Promise<ResultSet> {
  const rows = (await stats.rows()).map((r): Value[] => [
    r.tenant,
    r.total.xacts,
    r.total.queries,
    r.total.received,
    r.total.sent,
    Math.round(r.total.xactUs),
    Math.round(r.total.queryUs),
    Math.round(r.total.waitUs),
    r.avgXacts,
    r.avgQueries,
    r.avgRecv,
    r.avgSent,
    Math.round(r.avgXactUs),
    Math.round(r.avgQueryUs),
    Math.round(r.avgWaitUs),
  ]);
  return {
    columns: [
      text('tenant'),
      int8('total_xact_count'),
      int8('total_query_count'),
      int8('total_received'),
      int8('total_sent'),
      int8('total_xact_time'),
      int8('total_query_time'),
      int8('total_wait_time'),
      int8('avg_xact_count'),
      int8('avg_query_count'),
      int8('avg_recv'),
      int8('avg_sent'),
      int8('avg_xact_time'),
      int8('avg_query_time'),
      int8('avg_wait_time'),
    ],
    rows,
  };
}

export function showTenants(deps: ConsoleDeps): ResultSet {
  const rows = deps.tenants
    .listTenants()
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((t): Value[] => [
      t.id,
      firstUpstream(t).target.host,
      firstUpstream(t).target.port,
      firstUpstream(t).target.tls,
      t.pool.mode,
      t.pool.size,
      t.pool.minSize,
      t.pool.maxClientConnections ?? null,
      t.auth.method,
      t.requireTls ?? deps.config.tls.requireTls,
      t.allowlist ? t.allowlist.length : null,
      t.fly?.app ?? null,
      t.fly?.machineId ?? null,
      deps.sessions.count(t.id),
    ]);
  return {
    columns: [
      text('tenant'),
      text('host'),
      int8('port'),
      text('upstream_tls'),
      text('pool_mode'),
      int8('pool_size'),
      int8('min_pool_size'),
      int8('max_client_conn'),
      text('auth_method'),
      bool('require_tls'),
      int8('allowlist_entries'),
      text('fly_app'),
      text('fly_machine'),
      int8('cl_count'),
    ],
    rows,
  };
}

const SECRET_KEY = /password|secret|token|verifier|^md5$/i;

/** Dotted keys to display text; secrets become `[redacted]`, lists of objects show as JSON (redacted). */
function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      const key = prefix ? `${prefix}.${k}` : k;
      if (SECRET_KEY.test(k) && typeof v === 'string') out.set(key, '[redacted]');
      else flatten(v, key, out);
    }
    return;
  }
  if (Array.isArray(value)) {
    out.set(prefix, value.every((v) => typeof v !== 'object' || v === null) ? value.join(',') : JSON.stringify(redactDeep(value)));
    return;
  }
  // A password inside a URL (redis://:pw@host) is a secret too.
  out.set(prefix, value === undefined || value === null ? '' : String(value).replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1[redacted]@'));
}

function redactDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactDeep);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_KEY.test(k) && typeof x === 'string' ? '[redacted]' : redactDeep(x)]));
  return v;
}

let defaults: Map<string, string> | undefined;

function configDefaults(): Map<string, string> {
  if (!defaults) {
    defaults = new Map();
    try {
      const { tenants: _t, ...rest } = parseConfig({}, '(defaults)', {});
      flatten(rest, '', defaults);
    } catch {
      // No defaults to show: the column is NULL.
    }
  }
  return defaults;
}

/** Every setting but the tenants (SHOW TENANTS), one row per dotted key. */
export function showConfig(deps: ConsoleDeps): ResultSet {
  const { tenants: _t, ...rest } = deps.config as Config & { tenants: unknown };
  const values = new Map<string, string>();
  flatten(rest, '', values);
  const defs = configDefaults();
  const rows = [...values]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]): Value[] => [key, value, defs.get(key) ?? null, deps.control?.reloadable?.(key) ? 'yes' : 'no']);
  return { columns: [text('key'), text('value'), text('default'), text('changeable')], rows };
}

let version: string | undefined;

/** pgporter's version, from its package.json (dist/src/console -> the package root). */
export function pgporterVersion(): string {
  if (version === undefined) {
    try {
      version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

export function showVersion(): ResultSet {
  return { columns: [text('version')], rows: [[`pgporter ${pgporterVersion()}`]] };
}

export async function showNodes(deps: ConsoleDeps): Promise<ResultSet> {
  const nodes = await deps.fleet.nodes();
  const rows = nodes
    .sort((a, b) => a.slot - b.slot)
    .map((n): Value[] => [n.id, n.slot, n.self, ts(n.startedAt), ts(n.expiresAt), n.self ? deps.fleet.healthy() : null, deps.fleet.shared]);
  return { columns: [text('node_id'), int8('slot'), bool('self'), text('started_at'), text('expires_at'), bool('healthy'), bool('shared')], rows };
}
