// One pooled client's settings: what it asked for at startup, what it wants on every server, and which ParameterStatus values it has been told.
// Reported parameters: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-ASYNC
import { ClientError } from '../errors.js';
import { parameterStatus } from '../protocol/index.js';
import { OptionsError, startupWants } from './params.js';
import type { ErrorFieldMap } from './error-fields.js';

const NONE: ReadonlyMap<string, string> = new Map();

/**
 * Settings maps shared by the clients of a pool that asked for the same startup settings (most ask for none, or only
 * application_name): a client holds the shared map until a server reports a value of its own, then copies it.
 * Keyed by the pool's defaults map, then by the startup settings; bounded.
 */
const interned = new WeakMap<ReadonlyMap<string, string>, Map<string, ReadonlyMap<string, string>>>();
const MAX_INTERNED = 1000;

function internWant(defaults: ReadonlyMap<string, string>, startup: ReadonlyMap<string, string>): ReadonlyMap<string, string> {
  if (startup.size === 0) return defaults;
  let byKey = interned.get(defaults);
  if (byKey === undefined) interned.set(defaults, (byKey = new Map()));
  let key = '';
  for (const [k, v] of startup) key += `${k}\0${v}\0`;
  let want = byKey.get(key);
  if (want === undefined) {
    const m = new Map(defaults);
    for (const [k, v] of startup) m.set(k, v);
    if (byKey.size >= MAX_INTERNED) byKey.clear();
    byKey.set(key, (want = m));
  }
  return want;
}

/**
 * The login's ParameterStatus block per `want` map (never written once made, and shared by the clients of a pool that
 * asked for the same settings), for the keys it was built for: most logins send the same bytes, built once.
 */
const helloCache = new WeakMap<ReadonlyMap<string, string>, { keys: ReadonlyMap<string, string>; block: Buffer }>();

function helloFor(want: ReadonlyMap<string, string>, keys: ReadonlyMap<string, string>): Buffer {
  const hit = helloCache.get(want);
  if (hit !== undefined && hit.keys === keys) return hit.block;
  const parts: Buffer[] = [];
  for (const k of keys.keys()) parts.push(parameterStatus(k, want.get(k)!));
  const block = Buffer.concat(parts);
  helloCache.set(want, { keys, block });
  return block;
}

export class ClientSettings {
  /**
   * Parameter values this client should see on every server: defaults, its startup values, what it SET. Never
   * written once made: shared with the pool's other clients, and a server remembers which map it matches
   * (ServerSettings); a change makes a new map.
   */
  want: ReadonlyMap<string, string> = NONE;
  /** The `want` this client was told at login (ParameterStatus for every key of the defaults), and what it was told since. */
  private toldAtLogin: ReadonlyMap<string, string> | undefined;
  private loginKeys: ReadonlyMap<string, string> = NONE;
  private toldSince: Map<string, string> | undefined;
  /** Startup settings (parameters and `options`), parsed once; dropped once a server confirmed them. */
  startup: ReadonlyMap<string, string> = NONE;

  /** Parses the startup parameters and `options`; a ClientError (42601) for `options` PostgreSQL would refuse. */
  parseStartup(params: ReadonlyMap<string, string>): void {
    try {
      const wants = startupWants(params);
      this.startup = wants.size === 0 ? NONE : wants;
    } catch (err) {
      if (err instanceof OptionsError) throw new ClientError('STARTUP_OPTIONS_INVALID', err.message);
      throw err;
    }
  }

  /** What the client wants: the pool's defaults overlaid with its startup settings. */
  fill(defaults: ReadonlyMap<string, string> | undefined): void {
    const base = internWant(defaults ?? NONE, this.startup);
    if (this.want.size === 0) {
      this.want = base;
      return;
    }
    const m = new Map(this.want);
    for (const [k, v] of base) m.set(k, v);
    this.want = m;
  }

  /** The ParameterStatus messages of the login, one per parameter a server reports with the client's value, as one buffer. */
  hello(defaults: ReadonlyMap<string, string> | undefined): Buffer {
    const keys = defaults ?? NONE;
    // Told before the login (a SET during startup): what is told now replaces it.
    if (this.toldSince !== undefined) for (const k of keys.keys()) this.toldSince.delete(k);
    this.toldAtLogin = this.want;
    this.loginKeys = keys;
    return helloFor(this.want, keys);
  }

  /** A server's ParameterStatus: the client follows its own SETs; true when the client has not been told this value. */
  reported(name: string, value: string): boolean {
    if (this.want.get(name) !== value) this.want = new Map(this.want).set(name, value);
    if (this.told(name) === value) return false;
    (this.toldSince ??= new Map()).set(name, value);
    return true;
  }

  /** pgporter's own value for a setting (routing: a read-only session): wanted on every server from now on. */
  insist(name: string, value: string): void {
    if (this.want.get(name) !== value) this.want = new Map(this.want).set(name, value);
  }

  /** The startup settings were confirmed by a server: nothing needs them any more. */
  startupDone(): void {
    this.startup = NONE;
  }

  private told(name: string): string | undefined {
    const since = this.toldSince?.get(name);
    if (since !== undefined) return since;
    return this.toldAtLogin !== undefined && this.loginKeys.has(name) ? this.toldAtLogin.get(name) : undefined;
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
