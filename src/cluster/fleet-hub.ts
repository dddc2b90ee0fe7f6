// The supervisor as the workers' local hub in front of the real fleet: node-local locks, machine events among workers, per-tenant activity and client counts summed over workers, and cancel routing by slot and worker bits.
import { randomUUID } from 'node:crypto';
import { slotOf, workerOf, type Fleet, type FleetLock, type ForwardedCancel, type MachineEvent, type TenantActivity } from '../fleet/index.js';
import type { Logger } from '../observability/index.js';

/** How the hub reaches the workers (the supervisor sends these over IPC). */
export interface HubOutput {
  /** Workers alive now. */
  workers(): number[];
  cancel(worker: number, cancel: ForwardedCancel): void;
  machine(worker: number, e: MachineEvent): void;
}

interface HeldLock {
  worker: number;
  token: string;
  fleetLock: FleetLock;
}

export class FleetHub {
  private readonly locks = new Map<string, HeldLock>();
  /** Latest activity and admitted clients per worker and tenant. */
  private readonly activity = new Map<number, Map<string, TenantActivity>>();
  private readonly counts = new Map<number, Map<string, number>>();

  constructor(
    private readonly fleet: Fleet,
    private readonly out: HubOutput,
    private readonly logger: Logger,
  ) {
    // Other nodes' cancels and machine events reach the worker that owns the key, and every worker.
    fleet.onCancel((c) => this.routeCancel(c));
    fleet.onMachineEvent((e) => {
      for (const w of out.workers()) out.machine(w, e);
    });
  }

  /** The node-local lock table first (one worker per name), then the fleet's lock. */
  async lock(worker: number, name: string, ttlMs: number): Promise<{ token: string } | { lost: true }> {
    if (this.locks.has(name)) return { lost: true };
    const token = randomUUID();
    // Reserve the name before the fleet answers, so two workers asking at once cannot both reach Redis.
    const held: HeldLock = { worker, token, fleetLock: { release: async () => undefined } };
    this.locks.set(name, held);
    const expiry = setTimeout(() => this.unlock(name, token), ttlMs);
    expiry.unref();
    let got: FleetLock | 'lost';
    try {
      got = await this.fleet.lock(name, ttlMs);
    } catch {
      got = { release: async () => undefined };
    }
    if (got === 'lost') {
      clearTimeout(expiry);
      if (this.locks.get(name)?.token === token) this.locks.delete(name);
      return { lost: true };
    }
    held.fleetLock = got;
    if (this.locks.get(name)?.token !== token) void got.release();
    return { token };
  }

  unlock(name: string, token: string): void {
    const held = this.locks.get(name);
    if (!held || held.token !== token) return;
    this.locks.delete(name);
    void held.fleetLock.release();
  }

  /** A worker's announcement goes to the other workers and to the other nodes. */
  announceMachine(worker: number, machine: string, state: string): void {
    const e: MachineEvent = { machine, state, byNode: this.fleet.nodeId };
    for (const w of this.out.workers()) if (w !== worker) this.out.machine(w, e);
    this.fleet.announceMachine(machine, state);
  }

  reportActivity(worker: number, entries: Array<[string, TenantActivity]>): void {
    let mine = this.activity.get(worker);
    if (!mine) this.activity.set(worker, (mine = new Map()));
    const touched = new Set<string>();
    for (const [tenant, a] of entries) {
      mine.set(tenant, a);
      touched.add(tenant);
    }
    for (const t of touched) this.publish(t);
  }

  reportCounts(worker: number, entries: Array<[string, number]>): void {
    let mine = this.counts.get(worker);
    if (!mine) this.counts.set(worker, (mine = new Map()));
    for (const [tenant, n] of entries) {
      if (n > 0) mine.set(tenant, n);
      else mine.delete(tenant);
    }
  }

  /** Every worker idle for `idleMs` (a worker that never reported the tenant never had a client) and the fleet agrees. */
  async idleEverywhere(tenant: string, idleMs: number): Promise<boolean> {
    const now = Date.now();
    for (const w of this.out.workers()) {
      const a = this.activity.get(w)?.get(tenant);
      if (a === undefined) continue;
      if (a.clients > 0 || a.idleSince === undefined || now - a.idleSince < idleMs) return false;
    }
    return this.fleet.idleEverywhere(tenant, idleMs);
  }

  /** The counts another worker should see: every other worker's clients, and per tenant the other nodes' too. */
  peersOf(worker: number, tenantsWatched: Iterable<string>): { total: number; tenants: Record<string, number>; fleet: Record<string, number> } {
    let total = 0;
    const tenants: Record<string, number> = {};
    for (const [w, m] of this.counts) {
      if (w === worker) continue;
      for (const [t, n] of m) {
        total += n;
        tenants[t] = (tenants[t] ?? 0) + n;
      }
    }
    const fleet: Record<string, number> = {};
    for (const t of tenantsWatched) fleet[t] = (tenants[t] ?? 0) + this.fleet.clientsElsewhere(t);
    return { total, tenants, fleet };
  }

  /** A CancelRequest for a key that is not the receiving worker's: another worker here, or another node. */
  async forwardCancel(fromWorker: number, slot: number, c: Omit<ForwardedCancel, 'fromNode'>): Promise<boolean> {
    if (!this.fleet.shared || slot === this.fleet.slot) {
      const w = workerOf(c.pid);
      if (w === fromWorker || !this.out.workers().includes(w)) return false;
      this.out.cancel(w, { ...c, fromNode: this.fleet.nodeId });
      return true;
    }
    return this.fleet.forwardCancel(slot, c);
  }

  /** A worker is gone: its locks, activity and counts go at once. */
  dropWorker(worker: number): void {
    for (const [name, held] of this.locks) if (held.worker === worker) this.unlock(name, held.token);
    this.counts.delete(worker);
    const gone = this.activity.get(worker);
    this.activity.delete(worker);
    for (const t of gone?.keys() ?? []) this.publish(t);
  }

  private routeCancel(c: ForwardedCancel): void {
    if (slotOf(c.pid) !== this.fleet.slot) return;
    const w = workerOf(c.pid);
    if (this.out.workers().includes(w)) this.out.cancel(w, c);
    else this.logger.debug({ event: 'cancel_ignored', reason: 'worker gone', worker: w }, 'forwarded cancel for a worker that is gone');
  }

  /** The node's activity for a tenant, summed over workers, as the fleet publishes it. */
  private publish(tenant: string): void {
    let clients = 0;
    let idleSince: number | undefined = 0;
    let any = false;
    for (const m of this.activity.values()) {
      const a = m.get(tenant);
      if (!a) continue;
      any = true;
      clients += a.clients;
      if (a.idleSince === undefined) idleSince = undefined;
      else if (idleSince !== undefined) idleSince = Math.max(idleSince, a.idleSince);
    }
    if (!any) idleSince = Date.now();
    this.fleet.reportActivity(tenant, { clients, idleSince: clients > 0 ? undefined : idleSince });
  }
}
