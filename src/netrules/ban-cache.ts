// The bans this node enforces, in memory: one Map lookup per connection, kept equal to the fleet's list by the backend that owns it.

/** One active ban: this address may not log in to this tenant until `expiresAt` (epoch ms, this node's clock). */
export interface BanEntry {
  readonly tenant: string;
  readonly address: string;
  readonly expiresAt: number;
}

interface Held extends BanEntry {
  /** When this node last changed the entry (see `mark`). */
  readonly seq: number;
  /** Made or known on this node while the shared backend was unreachable: to be written back when it returns. */
  readonly localOnly: boolean;
}

/**
 * The key of a (tenant, address) pair, also its Redis member name. Tenant ids never hold ":" (config schema), so the
 * first ":" separates them even for IPv6 addresses.
 */
export const banKey = (tenant: string, address: string): string => `${tenant}:${address}`;

export function parseBanKey(key: string): { tenant: string; address: string } | undefined {
  const i = key.indexOf(':');
  if (i <= 0 || i === key.length - 1) return undefined;
  return { tenant: key.slice(0, i), address: key.slice(i + 1) };
}

export class BanCache {
  private readonly bans = new Map<string, Held>();
  /** Lifts since the last full read, so a read issued before a lift cannot bring the ban back. */
  private readonly lifted = new Map<string, number>();
  private seq = 0;

  /** The ban in force for this pair, or undefined; an expired entry is dropped on the way. */
  get(key: string, now = Date.now()): BanEntry | undefined {
    const b = this.bans.get(key);
    if (b === undefined) return undefined;
    if (b.expiresAt > now) return b;
    this.bans.delete(key);
    return undefined;
  }

  add(tenant: string, address: string, expiresAt: number, localOnly = false): BanEntry {
    const key = banKey(tenant, address);
    const entry: Held = { tenant, address, expiresAt, seq: ++this.seq, localOnly };
    this.bans.set(key, entry);
    this.lifted.delete(key);
    return entry;
  }

  remove(key: string): boolean {
    this.lifted.set(key, ++this.seq);
    return this.bans.delete(key);
  }

  /** A point in this cache's history; pass it to `replace` with the result of a read started now. */
  mark(): number {
    return this.seq;
  }

  /**
   * Makes the cache equal to a full read of the shared list, except for what changed here after `since` (a
   * pub/sub message or our own ban or lift that the read may not include) and bans not yet written back.
   */
  replace(entries: readonly BanEntry[], since: number): void {
    const fresh = new Map<string, BanEntry>();
    for (const e of entries) fresh.set(banKey(e.tenant, e.address), e);
    for (const [key, held] of this.bans) {
      if (held.seq > since || held.localOnly) continue;
      if (!fresh.has(key)) this.bans.delete(key);
    }
    for (const [key, e] of fresh) {
      const held = this.bans.get(key);
      if (held && (held.seq > since || held.localOnly)) continue;
      const liftedAt = this.lifted.get(key);
      if (liftedAt !== undefined && liftedAt > since) continue;
      this.bans.set(key, { ...e, seq: held?.seq ?? 0, localOnly: false });
    }
    for (const [key, at] of this.lifted) if (at <= since) this.lifted.delete(key);
  }

  /** Bans to write back to the shared backend (made while it was away, or known when it went away); `written` clears the mark. */
  localOnly(now = Date.now()): BanEntry[] {
    return [...this.bans.values()].filter((b) => b.localOnly && b.expiresAt > now);
  }

  /** Marks every ban known now as one to write back: Redis may come back without them (restart without persistence). */
  keepAll(): void {
    for (const [key, b] of this.bans) if (!b.localOnly) this.bans.set(key, { ...b, localOnly: true });
  }

  written(key: string): void {
    const b = this.bans.get(key);
    if (b?.localOnly) this.bans.set(key, { ...b, localOnly: false });
  }

  /** Active bans, soonest to expire first; drops the expired ones. */
  list(now = Date.now()): BanEntry[] {
    this.sweep(now);
    return [...this.bans.values()].sort((a, b) => a.expiresAt - b.expiresAt).map(({ tenant, address, expiresAt }) => ({ tenant, address, expiresAt }));
  }

  sweep(now = Date.now()): void {
    for (const [key, b] of this.bans) if (b.expiresAt <= now) this.bans.delete(key);
  }

  get size(): number {
    return this.bans.size;
  }
}
