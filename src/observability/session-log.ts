// A connection's logger that costs nothing until it writes: no pino child per connection, its fields are merged into a line only when one is written.
import type { Logger } from 'pino';

/** What the connection path logs through: a pino Logger fits, and so does a SessionLog. */
export interface LogLike {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * A pino child keeps its bindings serialised and its parent alive for as long as the connection lives, and is built
 * whether or not anything is logged. This holds one plain object of fields instead; a line written at an enabled
 * level carries them before its own (the same keys a child would add), and a disabled level returns at once.
 */
export class SessionLog implements LogLike {
  constructor(
    private readonly root: Logger,
    /** Replaced whole (never mutated) as the connection learns who it is. */
    public fields: Readonly<Record<string, unknown>>,
  ) {}

  debug(obj: object, msg?: string): void {
    if (this.root.isLevelEnabled('debug')) this.root.debug({ ...this.fields, ...obj }, msg);
  }

  info(obj: object, msg?: string): void {
    if (this.root.isLevelEnabled('info')) this.root.info({ ...this.fields, ...obj }, msg);
  }

  warn(obj: object, msg?: string): void {
    if (this.root.isLevelEnabled('warn')) this.root.warn({ ...this.fields, ...obj }, msg);
  }

  error(obj: object, msg?: string): void {
    if (this.root.isLevelEnabled('error')) this.root.error({ ...this.fields, ...obj }, msg);
  }
}
