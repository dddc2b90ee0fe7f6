// One pooled client's settings: what it asked for at startup, what it wants on every server, and which ParameterStatus values it has been told.
// Reported parameters: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-ASYNC
import { ClientError } from '../errors.js';
import { parameterStatus } from '../protocol/index.js';
import { OptionsError, startupWants } from './params.js';
import type { ErrorFieldMap } from './error-fields.js';

export class ClientSettings {
  /** Parameter values this client should see on every server: defaults, its startup values, what it SET. */
  readonly want = new Map<string, string>();
  /** Values this client was last told in ParameterStatus. */
  private readonly seen = new Map<string, string>();
  /** Startup settings (parameters and `options`), parsed once. */
  startup = new Map<string, string>();

  /** Parses the startup parameters and `options`; a ClientError (42601) for `options` PostgreSQL would refuse. */
  parseStartup(params: ReadonlyMap<string, string>): void {
    try {
      this.startup = startupWants(params);
    } catch (err) {
      if (err instanceof OptionsError) throw new ClientError('STARTUP_OPTIONS_INVALID', err.message);
      throw err;
    }
  }

  /** What the client wants: the pool's defaults overlaid with its startup settings. */
  fill(defaults: ReadonlyMap<string, string> | undefined): void {
    for (const [k, v] of defaults ?? new Map<string, string>()) this.want.set(k, v);
    for (const [k, v] of this.startup) this.want.set(k, v);
  }

  /** The ParameterStatus messages of the login: one per parameter a server reports, with the client's value. */
  hello(defaults: ReadonlyMap<string, string> | undefined): Buffer[] {
    const out: Buffer[] = [];
    for (const k of (defaults ?? new Map<string, string>()).keys()) {
      const v = this.want.get(k)!;
      this.seen.set(k, v);
      out.push(parameterStatus(k, v));
    }
    return out;
  }

  /** A server's ParameterStatus: the client follows its own SETs; true when the client has not been told this value. */
  reported(name: string, value: string): boolean {
    this.want.set(name, value);
    if (this.seen.get(name) === value) return false;
    this.seen.set(name, value);
    return true;
  }
}

/** The error a client gets when a server refused its settings: the server's SQLSTATE and words, as a FATAL. */
export function settingRefused(refused: ErrorFieldMap): ClientError {
  return new ClientError('SETTING_REFUSED', refused.M ?? 'invalid setting', {
    sqlstate: refused.C ?? '22023',
    ...(refused.D !== undefined ? { detail: refused.D } : {}),
    ...(refused.H !== undefined ? { hint: refused.H } : {}),
  });
}
