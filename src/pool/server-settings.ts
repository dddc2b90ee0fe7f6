// One pooled server's session settings: what it has (reported and confirmed), the change under way while it takes on a client's settings, and whether a client changed them itself.
// Reported parameters: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-ASYNC
import { afterReset, applyChange, syncStatement, type ParamChange } from './params.js';
import type { ErrorFieldMap } from './error-fields.js';

const NONE: ReadonlyMap<string, string> = new Map();

export class ServerSettings {
  /** Current parameter values: the server's reports plus what pgporter set and the server confirmed. */
  readonly have: Map<string, string>;
  /** Settings sent while syncing, applied to `have` once the server confirmed them. */
  private pending: ParamChange | undefined;
  private refused: ErrorFieldMap | undefined;
  /** A client ran SET/RESET here (transaction mode): session settings must be reset before the next client. */
  changedByClient = false;
  /**
   * The client settings map `have` was last found equal to (or made equal to), while nothing changed since: binding
   * a client with that same map (a pool's clients share one per set of startup settings; a map is never changed
   * once shared) needs no comparison at all, which spares every transaction a walk over both maps.
   */
  private matches: ReadonlyMap<string, string> | undefined;
  private pendingWant: ReadonlyMap<string, string> | undefined;

  constructor(
    params: ReadonlyMap<string, string>,
    private readonly defaults: () => ReadonlyMap<string, string> | undefined,
  ) {
    this.have = new Map(params);
  }

  /** The statement that gives this server `want`, or undefined when it has it already; recorded only once confirmed. */
  begin(want: ReadonlyMap<string, string>): string | undefined {
    this.refused = undefined;
    if (want === this.matches) {
      this.pending = undefined;
      return undefined;
    }
    const change = syncStatement(want, this.have, this.defaults() ?? NONE);
    this.pending = change;
    this.pendingWant = want;
    if (change === undefined) this.matches = want;
    return change?.sql;
  }

  /** The server refused the settings statement (its ErrorResponse fields). */
  refuse(fields: ErrorFieldMap): void {
    this.refused = fields;
  }

  /**
   * The settings statement was answered: applied to `have`, or the server's refusal returned. A refused statement
   * ran in one implicit transaction and changed nothing, so `have` is still true then.
   */
  finish(): ErrorFieldMap | undefined {
    const { pending, refused, pendingWant } = this;
    this.pending = undefined;
    this.refused = undefined;
    this.pendingWant = undefined;
    if (pending && refused === undefined) {
      applyChange(this.have, pending);
      this.matches = pendingWant;
    }
    return refused;
  }

  /** A ParameterStatus from the server. */
  reported(name: string, value: string): void {
    if (this.have.get(name) !== value) this.matches = undefined;
    this.have.set(name, value);
  }

  /** A reset (DISCARD ALL, RESET ALL) put back what clients set and the server does not report. */
  wereReset(): void {
    afterReset(this.have, this.defaults() ?? NONE);
    this.changedByClient = false;
    this.matches = undefined;
  }

  /** A client's CommandComplete in transaction mode: SET or RESET may have changed a session setting. */
  commandDone(buf: Buffer, start: number, end: number): void {
    if (changesSettings(buf, start, end)) this.changedByClient = true;
  }
}

/** CommandComplete tags SET and RESET. */
function changesSettings(buf: Buffer, start: number, end: number): boolean {
  const n = end - start - 5;
  const b0 = buf[start + 5];
  if (n === 4 && b0 === 0x53) return buf[start + 6] === 0x45 && buf[start + 7] === 0x54; // "SET\0"
  if (n === 6 && b0 === 0x52) return buf.toString('latin1', start + 5, end - 1) === 'RESET';
  return false;
}
