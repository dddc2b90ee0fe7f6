// A worker's Fleet: the same seam the wake and cancel code already use for several nodes, answered by the supervisor (node-local hub in front of the real fleet).
import type { Fleet, FleetLock, ForwardedCancel, MachineEvent, NodeInfo, TenantActivity } from '../fleet/index.js';
import type { ClientReport } from './client-report.js';
import type { Endpoint } from './ipc.js';
import type { SupervisorSide, WorkerSide } from './protocol.js';

const LOST = 'lost' as const;

export class WorkerFleet implements Fleet {
  private readonly cancelHandlers: Array<(c: ForwardedCancel) => void> = [];
  private readonly machineHandlers: Array<(e: MachineEvent) => void> = [];
  /** Other workers' and other nodes' clients per tenant, as the supervisor last said. */
  private elsewhere: Record<string, number> = {};
  private isHealthy = true;

  constructor(
    private readonly ipc: Endpoint<WorkerSide, SupervisorSide>,
    /** Activity goes up with the client counts, the latest per tenant at the end of the tick. */
    private readonly report: ClientReport,
    readonly nodeId: string,
    readonly slot: number,
    readonly shared: boolean,
  ) {
    ipc.on('cancel', (c) => {
      for (const h of this.cancelHandlers) h(c);
    });
    ipc.on('machine', (e) => {
      for (const h of this.machineHandlers) h(e);
    });
    ipc.on('peers', (p) => {
      this.elsewhere = p.fleet;
      this.isHealthy = p.healthy;
    });
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {
    this.report.flush();
  }

  healthy(): boolean {
    return this.isHealthy;
  }

  nodes(): Promise<NodeInfo[]> {
    return this.ipc.request('nodes', {});
  }

  forwardCancel(slot: number, cancel: Omit<ForwardedCancel, 'fromNode'>): Promise<boolean> {
    return this.ipc.request('forwardCancel', { slot, pid: cancel.pid, secret: cancel.secret, clientIp: cancel.clientIp }).catch(() => false);
  }

  onCancel(handler: (cancel: ForwardedCancel) => void): void {
    this.cancelHandlers.push(handler);
  }

  async lock(name: string, ttlMs: number): Promise<FleetLock | 'lost'> {
    let got: { token: string } | { lost: true };
    try {
      // The supervisor may wait on Redis for the fleet lock: allow for it.
      got = await this.ipc.request('lock', { name, ttlMs }, Math.max(5000, ttlMs));
    } catch {
      // No supervisor answer: as with Redis away, the caller's own single flight is all there is.
      return { release: async () => undefined };
    }
    if ('lost' in got) return LOST;
    const token = got.token;
    return { release: async () => this.ipc.emit('unlock', { name, token }) };
  }

  announceMachine(machine: string, state: string): void {
    this.ipc.emit('announceMachine', { machine, state });
  }

  onMachineEvent(handler: (e: MachineEvent) => void): void {
    this.machineHandlers.push(handler);
  }

  reportActivity(tenantId: string, activity: TenantActivity): void {
    this.report.active(tenantId, activity);
  }

  idleEverywhere(tenantId: string, idleMs: number): Promise<boolean> {
    // What this worker said last must be there before the supervisor decides.
    this.report.flush();
    return this.ipc.request('idleEverywhere', { tenant: tenantId, idleMs }).catch(() => false);
  }

  clientsElsewhere(tenantId: string): number {
    return this.elsewhere[tenantId] ?? 0;
  }
}
