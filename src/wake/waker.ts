// Wake on connect and suspend when idle: one wake in flight per machine shared by every waiting client, and one coarse sweep that suspends idle machines.
import type { Config } from '../config/index.js';
import { ClientError } from '../errors.js';
import type { Logger, Metrics } from '../observability/index.js';
import { HOPELESS_STATES, type MachineDriver, type MachineState } from './driver.js';
import { defaultDriverFor } from './driver-factory.js';
import { FlyApiError } from './fly-error.js';
import { wakeMetrics, type WakeMetrics } from './wake-metrics.js';
import { LocalFleet, type Fleet, type FleetLock, type MachineEvent } from '../fleet/index.js';
import { formatMs, withDeadline } from './deadline.js';
import { machineName, type WakeSubject } from './subject.js';

export interface WakeManager {
  /**
   * Resolves once the tenant's machine is started: at once for tenants without a `fly` block or known to be started.
   * Concurrent callers share one wake (one start call however many clients). `onWaking` is called once per caller when
   * a wake is actually needed, so it can send a NoticeResponse. A suspend in progress is waited out, then the machine
   * is woken. Rejects with ClientError WAKE_FAILED (57P03) on failure or after the wake timeout.
   * Call `clientConnected` before this, so the idle sweep never suspends under a client that is being admitted.
   */
  ensureAwake(subject: WakeSubject, onWaking?: () => void): Promise<void>;
  /**
   * Whether the subject's machine is not known to be started (suspended, stopped, or not asked yet). Never wakes it:
   * the first call for a machine reads its state in the background, and it counts as asleep until that answers.
   * False for subjects without a `fly` block.
   */
  asleep(subject: WakeSubject): boolean;
  /** Bumped whenever the machine is suspended or resumed; server connections opened under an older epoch are suspect. */
  epoch(tenantId: string): number;
  /** Forget that the machine is started (an upstream connect failed), so the next ensureAwake asks for its state. */
  markSuspect(tenantId: string): void;
  /** Reports the second wake phase: from machine started to PostgreSQL accepting a connection. */
  observeReady(tenantId: string, seconds: number): void;
  clientConnected(tenantId: string): void;
  clientDisconnected(tenantId: string): void;
  /** Called before an idle suspend so the tenant's server connections can be closed first. */
  setBeforeSuspend(fn: (tenantId: string) => Promise<void>): void;
  close(): Promise<void>;
}

export interface WakeManagerOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** The subject behind an id as configured now (a tenant, or `tenant/upstream`); undefined once it is gone. */
  getTenant(id: string): WakeSubject | undefined;
  /** Default: from the subject's `fly` block (Fly API or local signals); undefined means "nothing to wake". */
  driverFor?(subject: WakeSubject): MachineDriver | undefined;
  /** Period of the idle sweep in ms. Default 1000. */
  sweepIntervalMs?: number;
  /** The other nodes: one start per machine across them, suspend only when all are idle. Default: a node alone. */
  fleet?: Fleet;
}

/** A wake under way, shared by every caller that arrives before it settles. */
interface Wake {
  promise: Promise<void>;
  /** Set once the machine was found not started; later callers are told at once. */
  needed: boolean;
  listeners: Array<() => void>;
}

interface TenantState {
  readonly id: string;
  driver: MachineDriver | undefined;
  /** The tenant's `fly` block as JSON, to notice a config edit and pick a new driver. */
  driverKey: string;
  /** The machine behind the tenant, as the fleet names it (locks, events): "app/machineId" or "local:dataDir". */
  machine: string;
  /** The `fly` object the driver was made from: the same object means no edit, without serialising it per connect. */
  flyRef: unknown;
  knownStarted: boolean;
  epoch: number;
  clients: number;
  /** Callers inside ensureAwake (waiting for a suspend or a wake): a suspend must not start under them. */
  pending: number;
  /** When the client count last dropped to zero (or the tenant was first seen); undefined while clients are connected. */
  idleSince: number | undefined;
  wake: Wake | undefined;
  suspending: Promise<void> | undefined;
  lastState: string | undefined;
  /** A state read under way for asleep() (never a wake), and when the last one began (epoch ms). */
  peeking: boolean;
  peekedAt: number;
}

/** asleep() reads the state of a machine not known started at most this often (Get Machine never wakes it). */
const PEEK_EVERY_MS = 5000;

/** Extra time the hard timer grants past the deadline, so a driver's own, more specific timeout error wins. */
const DEADLINE_GRACE_MS = 250;

export function createWakeManager(opts: WakeManagerOptions): WakeManager {
  return new Waker(opts);
}

class Waker implements WakeManager {
  private readonly config: Config;
  private readonly log: Logger;
  private readonly m: WakeMetrics;
  private readonly getTenant: (id: string) => WakeSubject | undefined;
  private readonly driverFor: (subject: WakeSubject) => MachineDriver | undefined;
  private readonly tenants = new Map<string, TenantState>();
  private readonly sweepTimer: NodeJS.Timeout;
  private beforeSuspend: ((tenantId: string) => Promise<void>) | undefined;
  private closed = false;
  /** Aborted by close(): wakes and suspends in progress give up instead of holding shutdown for their whole timeout. */
  private readonly shutdown = new AbortController();
  private readonly fleet: Fleet;

  constructor(opts: WakeManagerOptions) {
    const sweepMs = opts.sweepIntervalMs ?? 1000;
    if (!(sweepMs > 0)) throw new TypeError(`createWakeManager: sweepIntervalMs must be positive, got ${sweepMs}`);
    this.config = opts.config;
    this.log = opts.logger.child({ area: 'wake' });
    this.m = wakeMetrics(opts.metrics.registry);
    this.getTenant = (id) => opts.getTenant(id);
    this.driverFor = opts.driverFor ? (subject) => opts.driverFor!(subject) : defaultDriverFor(opts.config, this.log);
    this.fleet = opts.fleet ?? new LocalFleet('local');
    this.fleet.onMachineEvent((e) => this.onMachineEvent(e));
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
  }

  // ---- public API ----

  async ensureAwake(subject: WakeSubject, onWaking?: () => void): Promise<void> {
    if (this.closed) throw new ClientError('SHUTTING_DOWN', 'pgporter is shutting down');
    const s = this.stateFor(subject);
    if (!s.driver) return;
    if (s.knownStarted && !s.wake && !s.suspending) return;
    let told = false;
    const tell = () => {
      if (told || !onWaking) return;
      told = true;
      try {
        onWaking();
      } catch (err) {
        this.log.warn({ tenant: s.id, err }, 'onWaking callback threw');
      }
    };
    s.pending++;
    this.m.waitingClients.set({ tenant: s.id }, s.pending);
    try {
      if (s.suspending) {
        tell(); // the machine is going to sleep right now, so waking it is certain
        await s.suspending;
      }
      if (s.knownStarted && !s.wake) return;
      const wake = s.wake ?? this.beginWake(s);
      if (wake.needed) tell();
      else wake.listeners.push(tell);
      await wake.promise;
    } finally {
      s.pending--;
      this.m.waitingClients.set({ tenant: s.id }, s.pending);
    }
  }

  asleep(subject: WakeSubject): boolean {
    if (subject.fly === undefined) return false;
    const s = this.stateFor(subject);
    if (!s.driver || (s.knownStarted && !s.suspending)) return false;
    // Waking or suspending counts as asleep (a probe now would find it stopped); its state is known then.
    const now = Date.now();
    if (!s.wake && !s.suspending && !s.peeking && !this.closed && now - s.peekedAt >= PEEK_EVERY_MS) {
      s.peekedAt = now;
      this.peek(s);
    }
    return true;
  }

  /** Reads the machine's state without changing it: started means usable now (then probed), anything else asleep. */
  private peek(s: TenantState): void {
    const driver = s.driver!;
    s.peeking = true;
    driver.getState(this.shutdown.signal).then(
      (state) => {
        s.peeking = false;
        if (s.driver !== driver || s.wake || s.suspending) return;
        this.setState(s, state);
        if (state === 'started') s.knownStarted = true;
      },
      (err: unknown) => {
        s.peeking = false;
        this.log.warn({ tenant: s.id, machine: driver.describe(), err: err instanceof Error ? err.message : String(err) }, 'could not read the machine state');
      },
    );
  }

  epoch(tenantId: string): number {
    return this.tenants.get(tenantId)?.epoch ?? 0;
  }

  markSuspect(tenantId: string): void {
    const s = this.tenants.get(tenantId);
    if (s) s.knownStarted = false;
  }

  observeReady(_tenantId: string, seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.m.wakeDuration.observe({ phase: 'postgres_ready' }, seconds);
  }

  clientConnected(tenantId: string): void {
    const s = this.tenants.get(tenantId) ?? this.newState(tenantId);
    s.clients++;
    s.idleSince = undefined;
    this.fleet.reportActivity(tenantId, { clients: s.clients, idleSince: undefined });
  }

  clientDisconnected(tenantId: string): void {
    const s = this.tenants.get(tenantId);
    if (!s || s.clients === 0) {
      this.log.warn({ tenant: tenantId }, 'clientDisconnected without a matching clientConnected');
      return;
    }
    s.clients--;
    if (s.clients === 0) s.idleSince = Date.now();
    this.fleet.reportActivity(tenantId, { clients: s.clients, idleSince: s.idleSince });
  }

  setBeforeSuspend(fn: (tenantId: string) => Promise<void>): void {
    this.beforeSuspend = fn;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.shutdown.abort();
    clearInterval(this.sweepTimer);
    const inFlight: Promise<unknown>[] = [];
    for (const s of this.tenants.values()) {
      if (s.wake) inFlight.push(s.wake.promise);
      if (s.suspending) inFlight.push(s.suspending);
    }
    await Promise.allSettled(inFlight);
  }

  // ---- per-tenant state ----

  private newState(id: string): TenantState {
    const s: TenantState = {
      id,
      driver: undefined,
      driverKey: '',
      machine: '',
      flyRef: null,
      knownStarted: false,
      epoch: 0,
      clients: 0,
      pending: 0,
      idleSince: Date.now(),
      wake: undefined,
      suspending: undefined,
      lastState: undefined,
      peeking: false,
      peekedAt: 0,
    };
    this.tenants.set(id, s);
    return s;
  }

  /** The subject's state, with its driver refreshed when its `fly` config changed (a new machine is not known started). */
  private stateFor(subject: WakeSubject): TenantState {
    const s = this.tenants.get(subject.id) ?? this.newState(subject.id);
    if (subject.fly !== undefined && subject.fly === s.flyRef) return s;
    s.flyRef = subject.fly;
    const key = JSON.stringify(subject.fly ?? null);
    if (key !== s.driverKey) {
      s.driverKey = key;
      s.machine = machineName(subject.fly);
      s.driver = this.driverFor(subject);
      s.knownStarted = false;
      s.peekedAt = 0;
    }
    return s;
  }

  private setState(s: TenantState, state: string): void {
    if (s.lastState === state) return;
    if (s.lastState !== undefined) this.m.machineState.remove({ tenant: s.id, state: s.lastState });
    s.lastState = state;
    this.m.machineState.set({ tenant: s.id, state }, 1);
  }

  private wakeTimeoutMs(tenant: WakeSubject | undefined): number {
    return tenant?.fly?.wakeTimeout ?? this.config.fly.wakeTimeout;
  }

  // ---- wake ----

  private beginWake(s: TenantState): Wake {
    const wake: Wake = { promise: Promise.resolve(), needed: false, listeners: [] };
    s.wake = wake;
    wake.promise = this.runWake(s, wake).finally(() => {
      if (s.wake === wake) s.wake = undefined;
    });
    return wake;
  }

  private markNeeded(wake: Wake): void {
    if (wake.needed) return;
    wake.needed = true;
    for (const tell of wake.listeners) tell();
    wake.listeners = [];
  }

  private async runWake(s: TenantState, wake: Wake): Promise<void> {
    const driver = s.driver!;
    const timeoutMs = this.wakeTimeoutMs(this.getTenant(s.id));
    const t0 = performance.now();
    const deadline = Date.now() + timeoutMs;
    const abort = new AbortController();
    let step = 'reading the machine state';
    let woke = false;
    let lock: FleetLock | undefined;

    const work = async (): Promise<void> => {
      let state: MachineState = await driver.getState(abort.signal);
      this.setState(s, state);
      if (state === 'started') return;
      this.markNeeded(wake);
      this.log.info({ tenant: s.id, machine: driver.describe(), state }, 'waking machine');
      if (HOPELESS_STATES.has(state)) throw new Error(`machine is ${state}`);
      if (state === 'stopping') {
        step = 'waiting for the machine to stop before starting it';
        await driver.waitFor('stopped', deadline);
        state = 'stopped';
      }
      // A machine already on its way up needs only the wait; anything else (suspended, stopped, created, suspending) a
      // start, by one node of the fleet: the others wait for it to be started.
      const needsStart = state !== 'starting' && state !== 'restarting' && state !== 'updating' && state !== 'replacing' && state !== 'creating';
      if (needsStart) {
        step = 'taking the fleet wake lock';
        const got = await this.fleet.lock(`wake:lock:${s.machine}`, Math.max(1000, deadline - Date.now()));
        this.m.fleetLocks.inc({ tenant: s.id, op: 'wake', result: got === 'lost' ? 'lost' : 'won' });
        if (got !== 'lost') lock = got;
      }
      if (needsStart && lock !== undefined) {
        step = 'starting the machine';
        try {
          await driver.start(deadline);
        } catch (err) {
          // 412 may only mean someone else started it first; anything but started/starting is a real refusal.
          if (!(err instanceof FlyApiError && err.status === 412)) throw err;
          const now = await driver.getState(abort.signal);
          this.setState(s, now);
          if (now !== 'started' && now !== 'starting') throw err;
        }
        woke = true;
        this.setState(s, 'starting');
      }
      step = 'waiting for the machine to be started';
      await driver.waitFor('started', deadline);
      woke = true;
    };

    try {
      await withDeadline(work(), deadline + DEADLINE_GRACE_MS, () => new Error(`timed out after ${formatMs(timeoutMs)} ${step}`), this.shutdown.signal);
      if (lock) this.fleet.announceMachine(s.machine, 'started');
    } catch (err) {
      abort.abort();
      s.knownStarted = false;
      this.m.wakes.inc({ tenant: s.id, result: 'failed' });
      const reason = err instanceof Error ? err.message : String(err);
      this.log.warn({ tenant: s.id, machine: driver.describe(), err: reason, step }, 'wake failed');
      throw new ClientError('WAKE_FAILED', `could not wake database ${driver.describe()}: ${reason}`, { cause: err });
    } finally {
      void lock?.release();
    }
    s.knownStarted = true;
    this.setState(s, 'started');
    if (woke) {
      s.epoch++;
      const seconds = (performance.now() - t0) / 1000;
      this.m.wakeDuration.observe({ phase: 'api' }, seconds);
      // Counted once per start: a process that waited for another worker's or node's start says so.
      this.m.wakes.inc({ tenant: s.id, result: lock === undefined ? 'waited' : 'woken' });
      this.log.info({ tenant: s.id, machine: driver.describe(), ms: Math.round(seconds * 1000) }, 'machine started');
    } else {
      this.m.wakes.inc({ tenant: s.id, result: 'not_needed' });
    }
  }

  /**
   * Another node woke or suspended a machine. Started: this node need not ask the Machines API again. Suspending or
   * suspended: this node's server connections to it are dead, the next client here wakes it (after the suspend, or by
   * starting it while it is still suspending), and this node must not suspend it a second time.
   */
  private onMachineEvent(e: MachineEvent): void {
    for (const s of this.tenants.values()) {
      if (s.machine !== e.machine || !s.driver) continue;
      if (e.state === 'started') {
        if (!s.wake && !s.suspending) {
          s.knownStarted = true;
          this.setState(s, 'started');
        }
      } else if (e.state === 'suspending' || e.state === 'suspended') {
        const first = s.knownStarted || e.state === 'suspended';
        s.knownStarted = false;
        this.setState(s, e.state);
        if (!first) continue;
        s.epoch++;
        void this.beforeSuspend?.(s.id).catch(() => undefined);
        this.log.info({ tenant: s.id, byNode: e.byNode, state: e.state }, 'machine suspended by another node');
      }
    }
  }

  // ---- suspend when idle ----

  /** One coarse timer for every tenant: suspends machines idle for their suspendAfterIdle. */
  private sweep(): void {
    if (this.closed) return;
    const now = Date.now();
    for (const s of this.tenants.values()) {
      if (s.clients > 0 || s.pending > 0 || s.wake || s.suspending || s.idleSince === undefined || !s.knownStarted) continue;
      const tenant = this.getTenant(s.id);
      if (!tenant) {
        this.tenants.delete(s.id);
        continue;
      }
      const after = tenant.fly?.suspendAfterIdle;
      if (after === undefined || now - s.idleSince < after) continue;
      this.stateFor(tenant);
      if (!s.driver || !s.knownStarted) continue;
      const run = this.runSuspend(s, tenant);
      s.suspending = run;
      void run.finally(() => {
        if (s.suspending === run) s.suspending = undefined;
      });
    }
  }

  /** Never rejects: a failed suspend is logged and counted, and tried again after another idle period. */
  private async runSuspend(s: TenantState, tenant: WakeSubject): Promise<void> {
    const driver = s.driver!;
    const timeoutMs = this.wakeTimeoutMs(tenant);
    const deadline = Date.now() + timeoutMs;
    const idleSince = s.idleSince;
    const after = tenant.fly?.suspendAfterIdle ?? 0;
    // Every node must have been idle that long, and one node suspends: never on a partial view (Redis away: no suspend).
    const everywhere = await this.fleet.idleEverywhere(s.id, after);
    this.m.fleetIdle.set({ tenant: s.id }, everywhere ? 1 : 0);
    if (!everywhere) return;
    const lock = await this.fleet.lock(`suspend:lock:${s.machine}`, timeoutMs + DEADLINE_GRACE_MS);
    this.m.fleetLocks.inc({ tenant: s.id, op: 'suspend', result: lock === 'lost' ? 'lost' : 'won' });
    if (lock === 'lost' || s.clients > 0 || s.pending > 0 || !s.knownStarted || !(await this.fleet.idleEverywhere(s.id, after))) {
      if (lock !== 'lost') void lock.release();
      return;
    }
    s.idleSince = undefined;
    let step = 'closing server connections';
    try {
      if (this.beforeSuspend) await withDeadline(this.beforeSuspend(s.id), deadline, () => new Error(`timed out after ${formatMs(timeoutMs)} ${step}`), this.shutdown.signal);
      if (s.clients > 0 || s.pending > 0) {
        // A client came while connections were being closed; the machine is still started, so it is simply served.
        this.m.suspends.inc({ tenant: s.id, result: 'aborted' });
        if (s.clients === 0) s.idleSince = Date.now();
        return;
      }
      this.log.info({ tenant: s.id, machine: driver.describe(), idleMs: tenant.fly?.suspendAfterIdle }, 'suspending idle machine');
      // Other nodes stop trusting the machine now: a client arriving there wakes it again rather than landing on it.
      this.fleet.announceMachine(s.machine, 'suspending');
      s.knownStarted = false;
      s.epoch++;
      this.setState(s, 'suspending');
      step = 'suspending the machine';
      const work = async () => {
        await driver.suspend(deadline);
        step = 'waiting for the machine to be suspended';
        await driver.waitFor('suspended', deadline);
      };
      await withDeadline(work(), deadline + DEADLINE_GRACE_MS, () => new Error(`timed out after ${formatMs(timeoutMs)} ${step}`), this.shutdown.signal);
      this.setState(s, 'suspended');
      this.m.suspends.inc({ tenant: s.id, result: 'suspended' });
      this.log.info({ tenant: s.id, machine: driver.describe() }, 'machine suspended');
      // Before the lock goes: the other nodes must know before any of them could take it and suspend again.
      this.fleet.announceMachine(s.machine, 'suspended');
    } catch (err) {
      this.m.suspends.inc({ tenant: s.id, result: 'failed' });
      this.log.warn({ tenant: s.id, machine: driver.describe(), step, err: err instanceof Error ? err.message : String(err) }, 'suspend failed');
      if (s.clients === 0) s.idleSince = Date.now();
    } finally {
      void lock.release();
      if (s.idleSince === undefined && s.clients === 0 && idleSince !== undefined && s.knownStarted) s.idleSince = idleSince;
    }
  }
}
