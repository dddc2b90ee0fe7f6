// A worker's ban backend: the node's bans live in the supervisor (memory or Redis); the worker checks its copy, which the supervisor keeps equal, and sends failures there to be counted.
import { BanCache, type BanBackend, type BanEntry, type BanPolicy, type FailureOutcome } from '../netrules/index.js';
import type { Endpoint } from './ipc.js';
import type { SupervisorSide, WorkerSide } from './protocol.js';

export class WorkerBanBackend implements BanBackend {
  readonly cache = new BanCache();

  constructor(
    private readonly ipc: Endpoint<WorkerSide, SupervisorSide>,
    readonly kind: 'memory' | 'redis',
    initial: BanEntry[],
  ) {
    this.replace(initial);
    ipc.on('bans', ({ list }) => this.replace(list));
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {}

  async recordFailure(tenant: string, address: string, policy: BanPolicy): Promise<FailureOutcome> {
    try {
      const out = await this.ipc.request('recordFailure', { tenant, address, policy });
      // This worker refuses the address at once; the others when the supervisor's list reaches them (same tick).
      if (out.kind !== 'counted') this.cache.add(out.ban.tenant, out.ban.address, out.ban.expiresAt);
      return out;
    } catch {
      return { kind: 'counted', failures: 0 };
    }
  }

  lift(): Promise<boolean> {
    return Promise.reject(new Error('bans are lifted through the supervisor (admin API)'));
  }

  async list(): Promise<BanEntry[]> {
    return this.cache.list();
  }

  healthy(): boolean {
    return true;
  }

  private replace(list: BanEntry[]): void {
    this.cache.replace(list, this.cache.mark());
  }
}
