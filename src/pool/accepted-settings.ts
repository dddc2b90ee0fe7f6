// The startup settings servers have accepted for one pool (bounded, shared with the node's other workers through PoolFacts): a login asking only for these needs no server first.
import type { PoolFacts } from './permits.js';

/** Most statement names and settings a pool remembers as valid before it starts over. */
export const MAX_REMEMBERED = 10_000;

export class AcceptedSettings {
  /** `name\0value` of every setting a server accepted (cleared when full). */
  private readonly accepted = new Set<string>();

  constructor(
    private readonly facts: PoolFacts | undefined,
    /** The pool's key for the facts. */
    private readonly key: string,
  ) {}

  /** Whether some of `settings` is neither the servers' default nor accepted yet (it must be tried before the login succeeds). */
  unconfirmed(settings: ReadonlyMap<string, string>, defaults: ReadonlyMap<string, string> | undefined): boolean {
    for (const [k, v] of settings) {
      // Any text is a valid application_name: no need to ask a server.
      if (k === 'application_name' || defaults?.get(k) === v) continue;
      const kv = `${k}\0${v}`;
      if (!this.accepted.has(kv) && !this.facts?.settingKnown(this.key, kv)) return true;
    }
    return false;
  }

  /** A server accepted these: remembered here, and told to the other workers when new. */
  confirmed(settings: ReadonlyMap<string, string>): void {
    const learned: string[] = [];
    for (const [k, v] of settings) {
      if (this.accepted.size >= MAX_REMEMBERED) this.accepted.clear();
      const kv = `${k}\0${v}`;
      if (!this.accepted.has(kv)) learned.push(kv);
      this.accepted.add(kv);
    }
    if (learned.length && this.facts) this.facts.learnedSettings(this.key, learned);
  }
}
