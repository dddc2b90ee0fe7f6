// Startup parameters in a pool: what each client wants, what each server has, and the statement that makes a server match a client.
// Reported parameters: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-ASYNC

/** Canonical spellings, so "datestyle" from a client and "DateStyle" from the server are one parameter. */
const CANONICAL = new Map(
  [
    'application_name',
    'client_encoding',
    'DateStyle',
    'IntervalStyle',
    'TimeZone',
    'standard_conforming_strings',
    'search_path',
    'extra_float_digits',
    'default_transaction_isolation',
    'default_transaction_read_only',
    'statement_timeout',
    'lock_timeout',
    'idle_in_transaction_session_timeout',
    'bytea_output',
  ].map((n) => [n.toLowerCase(), n]),
);

/** Reported by the server but fixed for a connection: never SET them. */
const READ_ONLY = new Set(['server_version', 'server_encoding', 'integer_datetimes', 'is_superuser', 'session_authorization', 'in_hot_standby', 'scram_iterations']);

/** Startup keys that are not run-time parameters. */
const NOT_PARAMS = new Set(['user', 'database', 'options', 'replication']);

const NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

export function canonicalName(name: string): string {
  return CANONICAL.get(name.toLowerCase()) ?? name;
}

/**
 * Splits the startup `options` value as PostgreSQL's pg_split_opts does: words separated by white space, where a
 * backslash makes the next character literal (`\ ` is a space, `\\` a backslash).
 */
export function splitOptions(options: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = options.length;
  const space = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
  while (i < n) {
    while (i < n && space(options[i]!)) i++;
    if (i >= n) break;
    let word = '';
    let escaped = false;
    for (; i < n; i++) {
      const c = options[i]!;
      if (space(c) && !escaped) break;
      if (!escaped && c === '\\') escaped = true;
      else {
        escaped = false;
        word += c;
      }
    }
    out.push(word);
  }
  return out;
}

/** Why PostgreSQL would refuse a login's `options` (SQLSTATE 42601, as process_postgres_switches reports it). */
export class OptionsError extends Error {}

/** `name=value` of `-c name=value` or `--name=value`: dashes in the name become underscores, as ParseLongOption does. */
function longOption(arg: string, flag: string): [string, string] {
  const eq = arg.indexOf('=');
  if (eq < 0) throw new OptionsError(flag === '-' ? `--${arg} requires a value` : `-c ${arg} requires a value`);
  return [arg.slice(0, eq).replace(/-/g, '_'), arg.slice(eq + 1)];
}

/**
 * Parameters a client asked for at startup, including those in `options`, with canonical names. Throws an
 * OptionsError for `options` PostgreSQL would refuse. Only `-c` and `--name=value` are understood: the other
 * postgres switches set server-level settings a client backend cannot change anyway.
 */
export function startupWants(params: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of params) {
    if (NOT_PARAMS.has(k) || !NAME.test(k) || READ_ONLY.has(k)) continue;
    out.set(canonicalName(k), v);
  }
  const options = params.get('options');
  if (options) {
    const words = splitOptions(options);
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      let kv: [string, string];
      if (w === '-c') {
        if (i + 1 >= words.length) throw new OptionsError('option requires an argument -- \'c\'');
        kv = longOption(words[++i]!, 'c');
      } else if (w.startsWith('-c')) kv = longOption(w.slice(2), 'c');
      else if (w.startsWith('--') && w.length > 2) kv = longOption(w.slice(2), '-');
      else throw new OptionsError(`invalid command-line argument for server process: ${w}`);
      if (!READ_ONLY.has(kv[0])) out.set(canonicalName(kv[0]), kv[1]);
    }
  }
  return out;
}

function literal(v: string): string {
  // E'' reads backslashes the same way whatever standard_conforming_strings is.
  return `E'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** What one settings statement changes on a server, applied to its record only once the server confirmed it. */
export interface ParamChange {
  readonly sql: string;
  readonly sets: ReadonlyArray<readonly [string, string]>;
  readonly resets: readonly string[];
}

/**
 * The statement that gives a server the client's parameters, or undefined when it has them already. `have` is not
 * changed here: see applyChange. `defaults` are the values a fresh server reports; parameters someone else set
 * that the client did not ask for are RESET. The statement runs as one implicit transaction: if any part fails,
 * none of it took effect.
 */
export function syncStatement(want: ReadonlyMap<string, string>, have: ReadonlyMap<string, string>, defaults: ReadonlyMap<string, string>): ParamChange | undefined {
  const sets: [string, string][] = [];
  const resets: string[] = [];
  for (const [k, v] of want) {
    if (READ_ONLY.has(k) || have.get(k) === v) continue;
    // Never SET a server writable: a fenced primary (read-only by its own config) would take writes again. RESET gives
    // the server's own default, which is off wherever writes belong.
    if (k === 'default_transaction_read_only' && v === 'off') resets.push(k);
    else sets.push([k, v]);
  }
  for (const k of have.keys()) {
    if (want.has(k) || defaults.has(k) || READ_ONLY.has(k)) continue;
    resets.push(k);
  }
  if (!sets.length && !resets.length) return undefined;
  const parts = resets.map((k) => `RESET "${k.replace(/"/g, '""')}"`);
  if (sets.length) parts.push(`SELECT ${sets.map(([k, v]) => `pg_catalog.set_config(${literal(k)}, ${literal(v)}, false)`).join(', ')}`);
  return { sql: parts.join('; '), sets, resets };
}

/** Records a confirmed ParamChange (reported parameters are corrected by the ParameterStatus the server sent). */
export function applyChange(have: Map<string, string>, change: ParamChange): void {
  for (const k of change.resets) have.delete(k);
  for (const [k, v] of change.sets) have.set(k, v);
}

/** Forgets values set by clients that a reset (DISCARD ALL, RESET ALL) put back to defaults and that the server does not report. */
export function afterReset(have: Map<string, string>, defaults: ReadonlyMap<string, string>): void {
  for (const k of [...have.keys()]) if (!defaults.has(k)) have.delete(k);
}

/** Splits a ParameterStatus body (name NUL value NUL). */
export function parameterStatusBody(buf: Buffer, start: number, end: number): [string, string] | undefined {
  const a = buf.indexOf(0, start);
  if (a < 0 || a >= end) return undefined;
  const b = buf.indexOf(0, a + 1);
  if (b < 0 || b >= end) return undefined;
  return [buf.toString('utf8', start, a), buf.toString('utf8', a + 1, b)];
}
