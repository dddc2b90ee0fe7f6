// A node alone (embedded or memory store): no peers, every lock granted, nothing to forward; the local single flight and idle count decide.
import type { Fleet, FleetLock, NodeInfo } from './types.js';

const NO_LOCK: FleetLock = { release: async () => undefined };

export class LocalFleet implements Fleet {
  readonly shared = false;
  readonly slot = 0;
  private readonly startedAt = Date.now();

  constructor(readonly nodeId: string) {}

  async start(): Promise<void> {}
  async close(): Promise<void> {}
  healthy(): boolean {
    return true;
  }
  async nodes(): Promise<NodeInfo[]> {
    return [{ id: this.nodeId, slot: 0, startedAt: this.startedAt, expiresAt: Number.MAX_SAFE_INTEGER, self: true }];
  }
  async forwardCancel(): Promise<boolean> {
    return false;
  }
  onCancel(): void {}
  async lock(): Promise<FleetLock> {
    return NO_LOCK;
  }
  announceMachine(): void {}
  onMachineEvent(): void {}
  reportActivity(): void {}
  async idleEverywhere(): Promise<boolean> {
    return true;
  }
  clientsElsewhere(): number {
    return 0;
  }
}
