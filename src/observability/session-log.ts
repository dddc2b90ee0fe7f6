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
 * whether or not anything is logged. A FieldLog makes its fields only when a line is written at an enabled level: they
 * go before the line's own (the same keys a child would add), and a disabled level returns at once. Subclasses say
 * where the fields come from (an object, or the record of the session itself, which then needs no logger of its own).
 */
export abstract class FieldLog implements LogLike {
  protected abstract logRoot(): Logger;
  protected abstract logFields(): Readonly<Record<string, unknown>>;

  debug(obj: object, msg?: string): void {
    const root = this.logRoot();
    if (root.isLevelEnabled('debug')) root.debug({ ...this.logFields(), ...obj }, msg);
  }

  info(obj: object, msg?: string): void {
    const root = this.logRoot();
    if (root.isLevelEnabled('info')) root.info({ ...this.logFields(), ...obj }, msg);
  }

  warn(obj: object, msg?: string): void {
    const root = this.logRoot();
    if (root.isLevelEnabled('warn')) root.warn({ ...this.logFields(), ...obj }, msg);
  }

  error(obj: object, msg?: string): void {
    const root = this.logRoot();
    if (root.isLevelEnabled('error')) root.error({ ...this.logFields(), ...obj }, msg);
  }
}

/** A connection's log while it logs in: one plain object of fields. */
export class SessionLog extends FieldLog {
  constructor(
    private readonly root: Logger,
    /** Replaced whole (never mutated) as the connection learns who it is. */
    public fields: Readonly<Record<string, unknown>>,
  ) {
    super();
  }

  protected logRoot(): Logger {
    return this.root;
  }

  protected logFields(): Readonly<Record<string, unknown>> {
    return this.fields;
  }
}
