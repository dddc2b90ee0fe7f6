// A worker's server permits and client counts: permits asked of the supervisor's broker, and this worker's admitted clients published to the supervisor (coalesced per tick) while the other workers' sums come back.
import type { AdmissionPeers, PermitReceiver, PoolFacts, ServerPermits } from '../pool/index.js';
import type { ClientReport } from './client-report.js';
import type { Endpoint } from './ipc.js';
import type { PoolFactsMessage, SupervisorSide, WorkerSide } from './protocol.js';

/** Every grant comes later, from the broker: a worker never opens a server on its own say. */
export class WorkerPermits implements ServerPermits {
  private receiver: PermitReceiver | undefined;

  constructor(private readonly ipc: Endpoint<WorkerSide, SupervisorSide>) {
    ipc.on('permitGrant', ({ key, n }) => {
      if (this.receiver) this.receiver.granted(key, n);
      else this.release(key, n);
    });
    ipc.on('permitHandOver', ({ key, n, mode }) => this.receiver?.handOver(key, n, mode));
  }

  request(key: string, size: number, n: number): number {
    this.ipc.emit('permitRequest', { key, size, n });
    return 0;
  }

  release(key: string, n: number): void {
    this.ipc.emit('permitRelease', { key, n });
  }

  withdraw(key: string): void {
    this.ipc.emit('permitWithdraw', { key });
  }

  attach(receiver: PermitReceiver): void {
    this.receiver = receiver;
  }
}

/**
 * Client limits across workers. Exactness: a worker adds its own count (exact) to the others' sums as the supervisor
 * last broadcast them, so clients admitted on different workers within one IPC round trip (well under a millisecond
 * when idle) can pass a limit together; the overshoot is bounded by the logins accepted in that window.
 */
export class WorkerPeers implements AdmissionPeers {
  private total = 0;
  private tenants: Record<string, number> = {};

  constructor(
    ipc: Endpoint<WorkerSide, SupervisorSide>,
    private readonly report: ClientReport,
  ) {
    ipc.on('peers', (p) => {
      this.total = p.total;
      this.tenants = p.tenants;
    });
  }

  tenantElsewhere(tenantId: string): number {
    return this.tenants[tenantId] ?? 0;
  }

  totalElsewhere(): number {
    return this.total;
  }

  counted(tenantId: string, clients: number, near: boolean): void {
    this.report.count(tenantId, clients, near);
  }
}

/** Most settings remembered per pool before starting over (as a pool does for its own). */
const MAX_SETTINGS = 10_000;

/** Server defaults and accepted settings of the node's pools, learned on any worker, shared through the supervisor. */
export class WorkerFacts implements PoolFacts {
  private readonly known = new Map<string, { defaults: Map<string, string> | undefined; settings: Set<string> }>();

  constructor(
    private readonly ipc: Endpoint<WorkerSide, SupervisorSide>,
    initial: PoolFactsMessage[],
  ) {
    for (const f of initial) this.take(f);
    ipc.on('facts', (f) => this.take(f));
  }

  defaults(key: string): ReadonlyMap<string, string> | undefined {
    return this.known.get(key)?.defaults;
  }

  settingKnown(key: string, setting: string): boolean {
    return this.known.get(key)?.settings.has(setting) ?? false;
  }

  learnedDefaults(key: string, defaults: ReadonlyMap<string, string>): void {
    this.take({ key, defaults: [...defaults] });
    this.ipc.emit('facts', { key, defaults: [...defaults] });
  }

  learnedSettings(key: string, settings: string[]): void {
    this.take({ key, settings });
    this.ipc.emit('facts', { key, settings });
  }

  forget(key: string): void {
    if (!this.known.delete(key)) return;
    this.ipc.emit('facts', { key, forget: true });
  }

  private take(f: PoolFactsMessage): void {
    if (f.forget) {
      this.known.delete(f.key);
      return;
    }
    let k = this.known.get(f.key);
    if (!k) this.known.set(f.key, (k = { defaults: undefined, settings: new Set() }));
    if (f.defaults && !k.defaults) k.defaults = new Map(f.defaults);
    for (const s of f.settings ?? []) {
      if (k.settings.size >= MAX_SETTINGS) k.settings.clear();
      k.settings.add(s);
    }
  }
}
