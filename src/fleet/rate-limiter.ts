// A token bucket per source address (CancelRequests), bounded in memory: a flood of addresses costs at most MAX_ADDRESSES entries.

const MAX_ADDRESSES = 10_000;

export class AddressRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** `perSecond` sustained, bursts of twice that. */
  constructor(private readonly perSecond: number) {}

  /** Takes one token for `address`; false when it has none left. */
  take(address: string, now = Date.now()): boolean {
    const burst = 2 * this.perSecond;
    let b = this.buckets.get(address);
    if (b === undefined) {
      if (this.buckets.size >= MAX_ADDRESSES) this.buckets.clear();
      b = { tokens: burst, at: now };
      this.buckets.set(address, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
