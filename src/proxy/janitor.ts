// One coarse timer for every connection's login deadlines (PROXY header, startup, authentication), as PgBouncer's janitor: no setTimeout per connection.

/** Something that must happen by `due` (epoch ms) unless it is deleted first. */
export interface Deadline {
  readonly due: number;
  expire(): void;
}

/**
 * Checks its deadlines every `periodMs` (so one fires up to that much late, which login timeouts of seconds can
 * afford), and runs no timer at all while it has none. Adding and deleting are a Set operation each.
 */
export class Janitor {
  private readonly deadlines = new Set<Deadline>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly periodMs = 100) {}

  add(d: Deadline): void {
    this.deadlines.add(d);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(), this.periodMs);
      this.timer.unref();
    }
  }

  delete(d: Deadline): void {
    this.deadlines.delete(d);
  }

  get size(): number {
    return this.deadlines.size;
  }

  private sweep(): void {
    const now = Date.now();
    for (const d of this.deadlines) {
      if (d.due > now) continue;
      this.deadlines.delete(d);
      d.expire();
    }
    if (this.deadlines.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** The process's janitor for login deadlines. */
export const loginDeadlines = new Janitor();
