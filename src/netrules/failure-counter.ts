// Failed logins per (tenant, address) in a fixed window from the first failure, in memory and bounded: the memory backend, and the Redis backend's fallback.

interface Count {
  n: number;
  until: number;
}

/** Counters kept at most; past it the oldest window is forgotten, so a spray of addresses cannot exhaust memory. */
const DEFAULT_MAX_ENTRIES = 100_000;

export class FailureCounter {
  private readonly counts = new Map<string, Count>();

  constructor(private readonly maxEntries = DEFAULT_MAX_ENTRIES) {}

  /** Counts one failure and returns the failures in the current window, this one included (like Redis INCR + PX). */
  add(key: string, windowMs: number, now = Date.now()): number {
    let c = this.counts.get(key);
    if (c === undefined || c.until <= now) {
      // Re-inserted at the end, so Map order stays oldest window first.
      this.counts.delete(key);
      c = { n: 0, until: now + windowMs };
      this.counts.set(key, c);
      if (this.counts.size > this.maxEntries) this.counts.delete(this.counts.keys().next().value!);
    }
    return ++c.n;
  }

  reset(key: string): void {
    this.counts.delete(key);
  }

  sweep(now = Date.now()): void {
    for (const [key, c] of this.counts) if (c.until <= now) this.counts.delete(key);
  }
}
