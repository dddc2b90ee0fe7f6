// What a place that keeps bans must do (memory per node, or Redis for the fleet), and the memory one.
import { BanCache, banKey, type BanEntry } from './ban-cache.js';
import { FailureCounter } from './failure-counter.js';

/** Limits for one tenant, in milliseconds. */
export interface BanPolicy {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly banTimeMs: number;
}

/** What one failure led to: counted (n in the window), a new ban made here, or a ban that already existed. */
export type FailureOutcome =
  | { readonly kind: 'counted'; readonly failures: number }
  | { readonly kind: 'banned'; readonly failures: number; readonly ban: BanEntry }
  | { readonly kind: 'already'; readonly ban: BanEntry };

export interface BanBackend {
  readonly kind: 'memory' | 'redis';
  /** The bans this node enforces; read synchronously on every connection. */
  readonly cache: BanCache;
  start(): Promise<void>;
  close(): Promise<void>;
  /** Counts one failure; never rejects (a shared backend that fails falls back to counting here). */
  recordFailure(tenant: string, address: string, policy: BanPolicy): Promise<FailureOutcome>;
  /** Ends a ban everywhere; false when there was none. Rejects when the shared backend cannot be reached. */
  lift(tenant: string, address: string): Promise<boolean>;
  /** The active bans, as fresh as the backend can give them. */
  list(): Promise<BanEntry[]>;
  /** Whether the shared backend answered last time (always true in memory). */
  healthy(): boolean;
}

/**
 * Counts and bans in this process: what a node without Redis does, and what the Redis backend does while Redis is
 * unreachable (then the bans are marked to be written back).
 */
export function countLocally(cache: BanCache, counter: FailureCounter, tenant: string, address: string, policy: BanPolicy, localOnly: boolean): FailureOutcome {
  const now = Date.now();
  const key = banKey(tenant, address);
  const existing = cache.get(key, now);
  if (existing) return { kind: 'already', ban: existing };
  const failures = counter.add(key, policy.windowMs, now);
  if (failures < policy.maxFailures) return { kind: 'counted', failures };
  counter.reset(key);
  return { kind: 'banned', failures, ban: cache.add(tenant, address, now + policy.banTimeMs, localOnly) };
}

/** Per node: bans and counters live in this process only. */
export class MemoryBanBackend implements BanBackend {
  readonly kind = 'memory';
  readonly cache = new BanCache();
  private readonly counter = new FailureCounter();
  private timer: NodeJS.Timeout | undefined;

  async start(): Promise<void> {
    // Expired bans and windows would otherwise stay until looked up again.
    this.timer = setInterval(() => {
      this.cache.sweep();
      this.counter.sweep();
    }, 10_000);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }

  async recordFailure(tenant: string, address: string, policy: BanPolicy): Promise<FailureOutcome> {
    return countLocally(this.cache, this.counter, tenant, address, policy, false);
  }

  async lift(tenant: string, address: string): Promise<boolean> {
    const key = banKey(tenant, address);
    this.counter.reset(key);
    const had = this.cache.get(key) !== undefined;
    this.cache.remove(key);
    return had;
  }

  async list(): Promise<BanEntry[]> {
    return this.cache.list();
  }

  healthy(): boolean {
    return true;
  }
}
