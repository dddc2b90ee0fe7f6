// One pool's share of the node-wide server permits (src/pool/permits.ts): what it holds, has asked for and not been granted, owes another worker, and last told as its size.
import type { ServerPermits } from './permits.js';
import type { PooledServer } from './server.js';

/** How long a server must have been idle before another worker may take it without this one owing a fair share. */
const IDLE_HANDOVER_MS = 500;
/** The backend's coarse clock lags real time by up to one sweep (PoolBackend's default period). */
const SWEEP_SLACK_MS = 500;

export class PoolPermits {
  /** Permits held: open and opening servers, plus spare ones not used yet. */
  held = 0;
  /** Permits asked for and not granted yet. */
  asked = 0;
  /** Servers to hand back as they come back from their clients: another worker's clients wait for this pool. */
  owed = 0;
  /** The size last told to the permits: a tenant edit must reach them even when nothing new is asked. */
  private toldSize = 0;

  constructor(
    private readonly permits: ServerPermits,
    /** The pool's key (tenant, upstream, database, user). */
    private readonly key: string,
  ) {}

  /** Asks for `n` more for a pool of `size`; returns how many are granted (and held) now, the rest arrive as `granted`. */
  request(size: number, n: number): number {
    this.toldSize = size;
    const now = this.permits.request(this.key, size, n);
    this.held += now;
    this.asked += n - now;
    return now;
  }

  /** Nothing new to ask: tells a changed size while an ask is open; returns the permits that grants at once (not held yet). */
  resize(size: number): number {
    if (this.asked <= 0 || this.toldSize === size) return 0;
    this.toldSize = size;
    return this.permits.request(this.key, size, 0);
  }

  /** Permits asked for earlier arrive. */
  granted(n: number): void {
    this.asked = Math.max(0, this.asked - n);
    this.held += n;
  }

  /** Gives `n` held permits back. */
  give(n: number): void {
    this.held -= n;
    this.permits.release(this.key, n);
  }

  /**
   * Another worker waits for this pool (see PermitReceiver.handOver): spare permits go back, then servers from the
   * pool's `idle` stack (closed), then in 'owe' mode the rest is owed. `inUse`: the pool's open and opening servers.
   */
  handOver(n: number, mode: 'idle' | 'owe', inUse: number, idle: PooledServer[], now: number): void {
    const spare = Math.min(n, this.held - inUse);
    if (spare > 0) {
      this.give(spare);
      n -= spare;
    }
    // 'idle': only servers idle for a while (this worker's clients have gone quiet), never one between two of its
    // transactions, or servers would shuttle between busy workers at the price of a login each. Oldest first.
    // idleSince is stamped with the coarse clock (one sweep late at most), hence the sweep period on top.
    const quietSince = mode === 'idle' ? now - IDLE_HANDOVER_MS - SWEEP_SLACK_MS : Number.POSITIVE_INFINITY;
    while (n > 0 && idle.length > 0 && idle[0]!.idleSince <= quietSince) {
      idle.shift()!.close('handed over to another worker');
      n--;
    }
    // A server still opening is owed too: it is handed over when it would first be offered. Closing a server above
    // does not change `inUse` yet (the pool hears of it on the socket's close event, a later tick).
    // `n` is all the broker expects from this worker now (asks are repeated, not added up).
    if (mode === 'owe') this.owed = Math.min(n, inUse);
  }

  /** Withdraws what was asked for and not granted. */
  withdraw(): void {
    if (this.asked > 0) this.permits.withdraw(this.key);
    this.asked = 0;
  }
}
