// Each routed tenant's servers as known now: role (probed every health.interval and learned at every login), ban, lag; the monitor that keeps it true and says when it changed.
import type { HealthConfig } from '../config/schema-ha.js';
import type { Logger } from '../observability/index.js';
import type { UpstreamSpec } from './list.js';
import { sameTarget } from './list.js';
import { ProbeConnection, type ProbeLogin } from './probe.js';
import { banned, nextBan, roleOf, type Ban, type Role, type RoleReport } from './roles.js';

/** While a client waits for a writer, the servers are probed this often instead of every health.interval. */
const URGENT_INTERVAL_MS = 200;
/** Split brain is logged again at most this often while it lasts. */
const SPLIT_LOG_EVERY_MS = 10_000;

/** One server's state, as the admin API, the console and the metrics show it. */
export interface UpstreamStatus {
  tenant: string;
  name: string;
  host: string;
  port: number;
  region: string | undefined;
  hint: 'primary' | 'replica' | undefined;
  role: Role;
  inRecovery: boolean | undefined;
  readOnly: boolean | undefined;
  lagSeconds: number | undefined;
  /** Epoch ms of the last probe answered, and of the last attempt. */
  lastOkAt: number | undefined;
  lastProbeAt: number | undefined;
  lastError: string | undefined;
  /** Epoch ms the ban ends (absent: not banned) and the failures in a row that made it. */
  bannedUntil: number | undefined;
  strikes: number;
  asleep: boolean;
}

interface Entry {
  spec: UpstreamSpec;
  conn: ProbeConnection;
  inRecovery: boolean | undefined;
  readOnly: boolean | undefined;
  down: boolean;
  lagSeconds: number | undefined;
  lastOkAt: number | undefined;
  lastProbeAt: number | undefined;
  lastError: string | undefined;
  ban: Ban | undefined;
  nextProbeAt: number;
  probing: boolean;
  /** A probe has answered at least once (its answer outranks what logins report). */
  probed: boolean;
}

export interface TenantHealthOptions {
  tenantId: string;
  specs: UpstreamSpec[];
  settings(): HealthConfig;
  /** Credentials for the probe, or undefined while none are known (no client has logged in and no probeUser). */
  login(): ProbeLogin | undefined;
  /** A suspended server is not woken to be probed. */
  asleep?(name: string): boolean;
  logger: Logger;
  /** Something routing depends on changed (a role, a ban, a server going down or coming back). */
  changed(): void;
}

export class TenantHealth {
  private readonly entries = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout;
  private urgentUntil = 0;
  private lastSplitLog = 0;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly o: TenantHealthOptions) {
    this.log = o.logger.child({ tenant: o.tenantId, component: 'health' });
    this.setSpecs(o.specs);
    this.timer = setInterval(() => this.tick(), URGENT_INTERVAL_MS / 2);
    this.timer.unref();
  }

  /** The tenant's list was edited: new servers are probed at once, removed ones forgotten, moved ones start over. */
  setSpecs(specs: UpstreamSpec[]): void {
    const keep = new Set(specs.map((s) => s.name));
    for (const [name, e] of this.entries) {
      if (!keep.has(name)) {
        e.conn.close();
        this.entries.delete(name);
      }
    }
    for (const spec of specs) {
      const e = this.entries.get(spec.name);
      if (e && sameTarget(e.spec.target, spec.target)) {
        e.spec = spec;
        continue;
      }
      e?.conn.close();
      this.entries.set(spec.name, this.entry(spec));
    }
    this.o.changed();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const e of this.entries.values()) e.conn.close();
  }

  /** Its machine is being suspended: the probe connection closes now (it would be dead after the resume), and no probe runs while it sleeps. */
  sleep(name: string): void {
    const e = this.entries.get(name);
    if (!e) return;
    e.conn.close();
    e.lagSeconds = undefined;
  }

  role(name: string): Role {
    const e = this.entries.get(name);
    return e ? this.roleOf(e) : 'unknown';
  }

  isBanned(name: string, now = Date.now()): boolean {
    return banned(this.entries.get(name)?.ban, now);
  }

  /**
   * What a pool's login reported (in_hot_standby, default_transaction_read_only). Taken as the role until a probe has
   * answered; after that a login that disagrees only makes the server probed again: a just-promoted PostgreSQL 15 was
   * seen to report in_hot_standby=on to new sessions for seconds while pg_is_in_recovery() already said false.
   */
  observe(name: string, report: RoleReport | undefined): void {
    const e = this.entries.get(name);
    if (!e || !report) return;
    if (!e.probed) return this.apply(e, report);
    const said = roleOf({ inRecovery: report.inRecovery ?? e.inRecovery, readOnly: report.readOnly ?? e.readOnly });
    if (said !== this.roleOf(e)) this.reprobe(name);
  }

  /** A connection to the server failed (a pool's login, a 25006 answer): ban it and ask again now. */
  failed(name: string, err: Error): void {
    const e = this.entries.get(name);
    if (!e) return;
    this.fail(e, err);
    this.reprobe(name);
  }

  /** Probe now (a 25006 answer, a role ParameterStatus under a live session), not at the next interval. */
  reprobe(name?: string): void {
    for (const e of this.entries.values()) if (name === undefined || e.spec.name === name) e.nextProbeAt = 0;
    this.tick();
  }

  /** Clients wait for a writer: probe every URGENT_INTERVAL_MS until `untilMs` (epoch ms). */
  urgent(untilMs: number): void {
    if (untilMs > this.urgentUntil) {
      this.urgentUntil = untilMs;
      this.reprobe();
    }
  }

  statuses(now = Date.now()): UpstreamStatus[] {
    return [...this.entries.values()].map((e) => ({
      tenant: this.o.tenantId,
      name: e.spec.name,
      host: e.spec.target.host,
      port: e.spec.target.port,
      region: e.spec.region,
      hint: e.spec.hint,
      role: this.roleOf(e),
      inRecovery: e.inRecovery,
      readOnly: e.readOnly,
      lagSeconds: e.lagSeconds,
      lastOkAt: e.lastOkAt,
      lastProbeAt: e.lastProbeAt,
      lastError: e.lastError,
      bannedUntil: banned(e.ban, now) ? e.ban!.until : undefined,
      strikes: e.ban?.strikes ?? 0,
      asleep: this.o.asleep?.(e.spec.name) ?? false,
    }));
  }

  // --- internals ---

  private entry(spec: UpstreamSpec): Entry {
    const e: Entry = {
      spec,
      conn: new ProbeConnection(spec.target, (err) => {
        // The server went away under an idle probe connection (killed, restarted): say so now, not at the next probe.
        if (this.stopped || this.entries.get(spec.name) !== e || this.o.asleep?.(spec.name)) return;
        this.fail(e, err);
        e.nextProbeAt = 0;
      }),
      inRecovery: undefined,
      readOnly: undefined,
      down: false,
      lagSeconds: undefined,
      lastOkAt: undefined,
      lastProbeAt: undefined,
      lastError: undefined,
      ban: undefined,
      nextProbeAt: 0,
      probing: false,
      probed: false,
    };
    return e;
  }

  private roleOf(e: Entry): Role {
    if (e.down) return 'down';
    const r = roleOf(e);
    // Asleep and never heard from (pgporter started while its machine slept): the operator's hint stands in until it
    // is woken, and its first login tells the truth.
    if (r === 'unknown' && e.spec.hint !== undefined && this.o.asleep?.(e.spec.name)) return e.spec.hint === 'replica' ? 'standby' : 'primary';
    return r;
  }

  private tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    const cfg = this.o.settings();
    const every = now < this.urgentUntil ? Math.min(URGENT_INTERVAL_MS, cfg.interval) : cfg.interval;
    let login: ProbeLogin | undefined;
    for (const e of this.entries.values()) {
      if (e.probing || now < Math.min(e.nextProbeAt, (e.lastProbeAt ?? 0) + every)) continue;
      if (this.o.asleep?.(e.spec.name)) {
        e.nextProbeAt = now + cfg.interval;
        continue;
      }
      login ??= this.o.login();
      if (!login) return;
      e.probing = true;
      e.lastProbeAt = now;
      e.nextProbeAt = now + cfg.interval;
      e.conn.probe(login, cfg.timeout).then(
        (r) => {
          e.probing = false;
          if (this.entries.get(e.spec.name) === e) this.apply(e, r, true);
        },
        (err: Error) => {
          e.probing = false;
          // A probe cut short because its machine is being suspended says nothing about the server: no strike.
          if (this.entries.get(e.spec.name) === e && !this.o.asleep?.(e.spec.name)) this.fail(e, err);
        },
      );
    }
  }

  private apply(e: Entry, r: RoleReport, fromProbe = false): void {
    const before = this.roleOf(e);
    if (r.inRecovery !== undefined) e.inRecovery = r.inRecovery;
    if (r.readOnly !== undefined) e.readOnly = r.readOnly;
    if (fromProbe) {
      e.lagSeconds = r.lagSeconds;
      e.probed = true;
    }
    e.down = false;
    e.lastOkAt = Date.now();
    e.lastError = undefined;
    // A server that answers again starts its next ban from the bottom once the current one has run out.
    if (e.ban && !banned(e.ban, Date.now())) e.ban = undefined;
    const after = this.roleOf(e);
    if (after !== before) {
      this.log.warn({ event: 'upstream_role', upstream: e.spec.name, from: before, to: after }, `upstream ${e.spec.name} is now ${after} (was ${before})`);
      this.o.changed();
    }
    if (after === 'primary') this.checkSplit();
  }

  private fail(e: Entry, err: Error): void {
    const now = Date.now();
    const was = this.roleOf(e);
    e.lastError = err.message;
    // One failure is one strike, however many connections saw it at once.
    if (!banned(e.ban, now) || !e.down) {
      const cfg = this.o.settings();
      e.ban = nextBan(e.ban, now, cfg.banMin, cfg.banMax);
    }
    // Asked again when the ban runs out (if that comes before the next interval): a server back from a hiccup is
    // seen after banMin, not only after a long health.interval.
    e.nextProbeAt = Math.min(e.nextProbeAt, e.ban!.until);
    e.down = true;
    e.lagSeconds = undefined;
    if (was !== 'down') {
      this.log.warn({ event: 'upstream_down', upstream: e.spec.name, was, err: err.message, bannedForMs: e.ban!.until - now }, `upstream ${e.spec.name} is down (was ${was}): ${err.message}`);
      this.o.changed();
    }
  }

  private checkSplit(): void {
    const writers = [...this.entries.values()].filter((e) => this.roleOf(e) === 'primary');
    const now = Date.now();
    if (writers.length > 1 && now - this.lastSplitLog >= SPLIT_LOG_EVERY_MS) {
      this.lastSplitLog = now;
      this.log.error(
        { event: 'split_brain', upstreams: writers.map((e) => e.spec.name) },
        `SPLIT BRAIN: ${writers.length} upstreams of tenant ${this.o.tenantId} are writable (${writers.map((e) => e.spec.name).join(', ')}); writes go only to routing.preferredPrimary if set, else they are refused`,
      );
    }
  }
}
