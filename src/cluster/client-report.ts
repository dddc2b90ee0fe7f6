// What a worker tells its supervisor about its clients, coalesced into one IPC message per event-loop tick: admitted clients per tenant (for limits) and activity per tenant (for suspend-when-idle).
import type { TenantActivity } from '../fleet/index.js';
import type { Endpoint } from './ipc.js';
import type { SupervisorSide, WorkerSide } from './protocol.js';

/**
 * A login and a logout each change both facts of one tenant; sent apart they were four messages per short-lived
 * connection, each serialised and parsed on both sides (most of the supervisor's CPU per `-C` connection).
 */
export class ClientReport {
  private readonly counts = new Map<string, number>();
  private readonly activity = new Map<string, TenantActivity>();
  private queued = false;

  constructor(private readonly ipc: Endpoint<WorkerSide, SupervisorSide>) {}

  count(tenantId: string, clients: number): void {
    this.counts.set(tenantId, clients);
    this.queue();
  }

  active(tenantId: string, activity: TenantActivity): void {
    this.activity.set(tenantId, activity);
    this.queue();
  }

  /** Sends what is pending now (before a request whose answer depends on it). */
  flush(): void {
    this.queued = false;
    if (this.counts.size === 0 && this.activity.size === 0) return;
    this.ipc.emit('clients', {
      ...(this.counts.size ? { counts: [...this.counts] } : {}),
      ...(this.activity.size ? { activity: [...this.activity] } : {}),
    });
    this.counts.clear();
    this.activity.clear();
  }

  private queue(): void {
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => {
      if (this.queued) this.flush();
    });
  }
}
