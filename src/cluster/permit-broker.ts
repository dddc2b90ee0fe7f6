// The supervisor's permit broker: a pool's size is a total across the node's workers, so opening a server takes a permit from here, and a worker whose clients wait gets permits handed over by the others.

/** What the broker tells workers (the supervisor sends these over IPC). */
export interface BrokerOutput {
  grant(worker: number, key: string, n: number): void;
  handOver(worker: number, key: string, n: number, mode: 'idle' | 'owe'): void;
}

interface PoolPermits {
  size: number;
  /** Permits held per worker. */
  held: Map<number, number>;
  /** Permits asked for and not granted yet, per worker, in the order first asked. */
  queued: Map<number, number>;
  /** Permits a worker was asked to hand back as busy servers return, not given yet, and when it was last asked. */
  owed: Map<number, { n: number; at: number }>;
  /** Since when each worker has held permits (a turn lasts at least TURN_MS before busy servers are asked back). */
  since: Map<number, number>;
}

/** How often the broker looks again at pools with waiting workers (idle servers may have appeared elsewhere). */
const RECHECK_MS = 200;
/** An ask not answered by then is asked again (the servers it named may have closed for other reasons meanwhile). */
const OWED_EXPIRY_MS = 1000;
/**
 * A worker keeps the servers it was given for at least this long before it must hand busy ones back: a server moving
 * between workers costs a new server login, so turns are long enough to serve many transactions each.
 */
const TURN_MS = 250;

/**
 * Hands out permits per pool key up to the pool's size, first come first served. When a worker waits, the broker
 * asks workers with no waiters of their own to close idle servers at once, and workers above a fair share
 * (size / workers using the pool, at least one turn each) to hand back busy servers as their transactions end, so
 * transaction pooling cannot starve one worker's clients.
 */
export class PermitBroker {
  private readonly pools = new Map<string, PoolPermits>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly out: BrokerOutput) {
    this.timer = setInterval(() => this.recheck(), RECHECK_MS);
    this.timer.unref();
  }

  request(worker: number, key: string, size: number, n: number): void {
    // n = 0: only the size changed (a tenant edit); a larger one may serve what is queued now.
    const p = this.pool(key, size);
    if (n > 0) p.queued.set(worker, (p.queued.get(worker) ?? 0) + n);
    this.grantQueued(key, p);
    if (p.queued.size > 0) this.askForHandOver(key, p);
  }

  release(worker: number, key: string, n: number): void {
    const p = this.pools.get(key);
    if (!p) return;
    const held = (p.held.get(worker) ?? 0) - n;
    if (held > 0) p.held.set(worker, held);
    else {
      p.held.delete(worker);
      p.since.delete(worker);
    }
    const owed = p.owed.get(worker);
    if (owed && owed.n > n) owed.n -= n;
    else p.owed.delete(worker);
    this.grantQueued(key, p);
    this.forget(key, p);
  }

  withdraw(worker: number, key: string): void {
    const p = this.pools.get(key);
    if (!p) return;
    p.queued.delete(worker);
    this.forget(key, p);
  }

  /** A worker died: everything it held or asked for is free at once. */
  dropWorker(worker: number): void {
    for (const [key, p] of this.pools) {
      p.held.delete(worker);
      p.queued.delete(worker);
      p.owed.delete(worker);
      p.since.delete(worker);
      this.grantQueued(key, p);
      this.forget(key, p);
    }
  }

  /** Permits held per pool and worker (tests, GET /v1/pools detail). */
  snapshot(): Array<{ key: string; size: number; held: Record<number, number>; queued: Record<number, number> }> {
    return [...this.pools].map(([key, p]) => ({ key, size: p.size, held: Object.fromEntries(p.held), queued: Object.fromEntries(p.queued) }));
  }

  close(): void {
    clearInterval(this.timer);
  }

  private pool(key: string, size: number): PoolPermits {
    let p = this.pools.get(key);
    if (!p) this.pools.set(key, (p = { size, held: new Map(), queued: new Map(), owed: new Map(), since: new Map() }));
    // The size follows the latest ask: a reload or tenant edit reaches workers within a second.
    p.size = size;
    return p;
  }

  private total(p: PoolPermits): number {
    let n = 0;
    for (const v of p.held.values()) n += v;
    return n;
  }

  /**
   * Workers below their fair share first, then first come first served. A worker asked to hand servers back that asks
   * again itself (its own clients wait too) and asked first would otherwise get back each permit it releases: it opens
   * a server, closes it on arrival as owed, and the worker that waits is never served, nor are its own clients.
   */
  private grantQueued(key: string, p: PoolPermits): void {
    const share = Math.max(1, Math.floor(p.size / this.users(p)));
    this.grantUpTo(key, p, (worker) => share - (p.held.get(worker) ?? 0));
    this.grantUpTo(key, p, () => Number.POSITIVE_INFINITY);
  }

  private grantUpTo(key: string, p: PoolPermits, limit: (worker: number) => number): void {
    let free = p.size - this.total(p);
    for (const [worker, want] of p.queued) {
      if (free <= 0) break;
      const n = Math.min(free, want, limit(worker));
      if (n <= 0) continue;
      free -= n;
      if (!p.held.has(worker)) p.since.set(worker, Date.now());
      p.held.set(worker, (p.held.get(worker) ?? 0) + n);
      if (want > n) p.queued.set(worker, want - n);
      else p.queued.delete(worker);
      this.out.grant(worker, key, n);
    }
  }

  /** Workers holding or asking for permits of this pool. */
  private users(p: PoolPermits): number {
    return new Set([...p.held.keys(), ...p.queued.keys()]).size;
  }

  /** Idle servers of workers that do not wait first; then busy servers of workers above their fair share. */
  private askForHandOver(key: string, p: PoolPermits): void {
    let wanted = 0;
    for (const n of p.queued.values()) wanted += n;
    for (const [worker, held] of p.held) {
      if (wanted <= 0) return;
      if (p.queued.has(worker)) continue;
      const n = Math.min(held, wanted);
      this.out.handOver(worker, key, n, 'idle');
      wanted -= n;
    }
    const share = Math.floor(p.size / this.users(p));
    for (const [worker, want] of p.queued) {
      const held = p.held.get(worker) ?? 0;
      let short = Math.min(want, Math.max(1, share) - held);
      for (const [donor, donorHeld] of p.held) {
        if (short <= 0) break;
        if (donor === worker || Date.now() - (p.since.get(donor) ?? 0) < TURN_MS) continue;
        const asked = p.owed.get(donor);
        const owed = asked && Date.now() - asked.at < OWED_EXPIRY_MS ? asked.n : 0;
        const spare = donorHeld - owed - share;
        if (spare <= 0) continue;
        const n = Math.min(spare, short);
        p.owed.set(donor, { n: owed + n, at: Date.now() });
        this.out.handOver(donor, key, owed + n, 'owe');
        short -= n;
      }
    }
  }

  private recheck(): void {
    for (const [key, p] of this.pools) if (p.queued.size > 0) this.askForHandOver(key, p);
  }

  private forget(key: string, p: PoolPermits): void {
    if (p.held.size === 0 && p.queued.size === 0) this.pools.delete(key);
  }
}
