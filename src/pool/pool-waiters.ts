// The clients of one pool waiting for a server, oldest first: a FIFO whose entries that stopped waiting stay and are skipped when reached.
import type { ClientError } from '../errors.js';
import { Deque } from './deque.js';
import type { PoolClient } from './client.js';

export class Waiters {
  private readonly queue = new Deque<PoolClient>();
  /** Clients in the queue still in state waiting (the queue may also hold some that stopped). */
  count = 0;

  /** A client starts waiting, or one already waiting (routed here from elsewhere) joins. */
  push(client: PoolClient): void {
    this.queue.push(client);
    this.count++;
  }

  /** A client no longer waits: its entry stays and is skipped when reached (closed clients never wait again). */
  cancelled(): void {
    this.count--;
  }

  /** The longest-waiting client, taken out of the queue, or undefined when none waits. */
  next(): PoolClient | undefined {
    for (;;) {
      const c = this.queue.shift();
      if (c === undefined) return undefined;
      if (c.state === 'waiting') {
        this.count--;
        return c;
      }
    }
  }

  /** Ends up to `n` waiting clients, oldest first, with `err()`; `keep` spares those it says yes to. */
  fail(n: number, err: () => ClientError, keep?: (c: PoolClient) => boolean): void {
    if (n <= 0) return;
    const victims: PoolClient[] = [];
    for (let i = 0; i < this.queue.length && victims.length < n; i++) {
      const c = this.queue.at(i)!;
      if (c.state === 'waiting' && !(keep && keep(c))) victims.push(c);
    }
    for (const c of victims) c.fail(err());
  }

  /** Takes every waiting client out of the queue, still in state waiting. */
  evict(): PoolClient[] {
    const out: PoolClient[] = [];
    for (;;) {
      const c = this.queue.shift();
      if (c === undefined) break;
      if (c.state === 'waiting') out.push(c);
    }
    this.count = 0;
    return out;
  }

  /** A NoticeResponse to every waiting client (e.g. "waking the database"). */
  notice(message: string): void {
    for (let i = 0; i < this.queue.length; i++) {
      const c = this.queue.at(i)!;
      if (c.state === 'waiting') c.notice(message);
    }
  }

  /** Drops the entries of clients that stopped waiting once they outnumber the waiting ones (called from the sweep). */
  compact(): void {
    if (this.queue.length > 2 * this.count + 32) this.queue.filter((c) => c.state === 'waiting');
  }

  /** How long the oldest client still waiting has waited, in ms (0 when none waits). */
  maxWaitMs(now: number): number {
    for (let i = 0; i < this.queue.length; i++) {
      const c = this.queue.at(i)!;
      if (c.state === 'waiting') return Math.max(0, now - c.waitingSince);
    }
    return 0;
  }
}
