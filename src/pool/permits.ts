// Permission to open server connections, so a pool's size holds across a node's worker processes: the seam, and the one-process implementation.

/**
 * What a pool asks before it opens a server connection and tells when one closes, keyed by the pool's
 * `tenant\0database\0user`. Used only when servers open and close, never per transaction.
 */
export interface ServerPermits {
  /**
   * Asks for `n` more permits for pool `key`, whose configured total is `size`; returns how many are granted at once.
   * The others, if any, arrive later through the receiver's `granted`.
   */
  request(key: string, size: number, n: number): number;
  /** Gives `n` permits back: a server closed, an open failed, or a grant came that is no longer needed. */
  release(key: string, n: number): void;
  /** The pool is gone: forget what it asked for and has not been granted. */
  withdraw(key: string): void;
  /** Where later grants and hand-over requests go (the PoolBackend). */
  attach(receiver: PermitReceiver): void;
}

export interface PermitReceiver {
  /** `n` permits asked for earlier are granted now. */
  granted(key: string, n: number): void;
  /**
   * Another worker's clients wait for this pool: give back `n` permits. `idle`: spare permits and servers idle for a
   * while, now; `owe`: spare permits and idle servers now, and the rest as busy servers come back (a fair share for
   * each worker); `n` is then everything the broker expects from this worker, not an increment.
   */
  handOver(key: string, n: number, mode: 'idle' | 'owe'): void;
}

/** One process (`workers: 1`): every permit is granted at once; the pool's own size check is the limit. */
export class LocalPermits implements ServerPermits {
  request(_key: string, _size: number, n: number): number {
    return n;
  }
  release(): void {}
  withdraw(): void {}
  attach(): void {}
}

/**
 * What a pool learns from its servers that every worker's pool of the same key can use: the servers' ParameterStatus
 * defaults and the startup settings a server accepted. Without it, the first login on each worker would need a free
 * server (a busy pool would hold logins on the other workers). Absent with one process.
 */
export interface PoolFacts {
  defaults(key: string): ReadonlyMap<string, string> | undefined;
  /** Whether a server accepted `name\0value` for this pool on some worker. */
  settingKnown(key: string, setting: string): boolean;
  learnedDefaults(key: string, defaults: ReadonlyMap<string, string>): void;
  learnedSettings(key: string, settings: string[]): void;
  /** The pool is gone on this worker (no client, no server): its facts are forgotten, as a lone process forgets them. */
  forget(key: string): void;
}
