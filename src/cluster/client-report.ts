// What a worker tells its supervisor about its clients, coalesced into one IPC message per tick or per short batch: admitted clients per tenant (for limits) and activity per tenant (for suspend-when-idle).
import type { TenantActivity } from '../fleet/index.js';
import type { Endpoint } from './ipc.js';
import type { SupervisorSide, WorkerSide } from './protocol.js';

/** Far from every limit and with no change between idle and busy, a report waits this long, so a burst of logins and logouts travels as one message. */
const BATCH_MS = 20;

/**
 * A login and a logout each change both facts of one tenant; sent apart they were four messages per short-lived
 * connection, each serialised and parsed on both sides (most of the supervisor's CPU per `-C` connection). What must
 * be exact goes at the next tick: a count near a limit, and a tenant turning idle or busy (suspend-when-idle reads
 * that); the rest waits for a batch.
 */
export class ClientReport {
  private readonly counts = new Map<string, number>();
  private readonly activity = new Map<string, TenantActivity>();
  /** Whether each tenant had no clients in the last activity queued, to see it turn idle or busy. */
  private readonly wasIdle = new Map<string, boolean>();
  private soon = false;
  private batch: NodeJS.Timeout | undefined;

  constructor(private readonly ipc: Endpoint<WorkerSide, SupervisorSide>) {}

  count(tenantId: string, clients: number, urgent: boolean): void {
    this.counts.set(tenantId, clients);
    this.queue(urgent);
  }

  active(tenantId: string, activity: TenantActivity): void {
    this.activity.set(tenantId, activity);
    const idle = activity.clients === 0;
    const turned = (this.wasIdle.get(tenantId) ?? true) !== idle;
    if (idle) this.wasIdle.delete(tenantId);
    else this.wasIdle.set(tenantId, false);
    this.queue(turned);
  }

  /** Sends what is pending now (before a request whose answer depends on it). */
  flush(): void {
    this.soon = false;
    if (this.batch) clearTimeout(this.batch);
    this.batch = undefined;
    if (this.counts.size === 0 && this.activity.size === 0) return;
    this.ipc.emit('clients', {
      ...(this.counts.size ? { counts: [...this.counts] } : {}),
      ...(this.activity.size ? { activity: [...this.activity] } : {}),
    });
    this.counts.clear();
    this.activity.clear();
  }

  private queue(urgent: boolean): void {
    if (this.soon) return;
    if (urgent) {
      this.soon = true;
      setImmediate(() => {
        if (this.soon) this.flush();
      });
      return;
    }
    if (this.batch === undefined) {
      this.batch = setTimeout(() => {
        this.batch = undefined;
        this.flush();
      }, BATCH_MS);
      this.batch.unref();
    }
  }
}
