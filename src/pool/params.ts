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

/** Parameters a client asked for at startup (including `-c name=value` in `options`), with canonical names. */
export function startupWants(params: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of params) {
    if (NOT_PARAMS.has(k) || !NAME.test(k) || READ_ONLY.has(k)) continue;
    out.set(canonicalName(k), v);
  }
  const options = params.get('options');
  if (options) {
    // "-c a=b --c=d": the forms libpq documents; anything else in options is not a parameter and is ignored.
    const tokens = options.split(/\s+/).filter(Boolean);
    for (let i = 0; i < tokens.length; i++) {
      let t = tokens[i]!;
      if (t === '-c' && i + 1 < tokens.length) t = tokens[++i]!;
      else if (t.startsWith('-c')) t = t.slice(2);
      else if (t.startsWith('--')) t = t.slice(2);
      else continue;
      const eq = t.indexOf('=');
      if (eq <= 0) continue;
      const k = t.slice(0, eq).replace(/-/g, '_');
      if (NAME.test(k) && !READ_ONLY.has(k)) out.set(canonicalName(k), t.slice(eq + 1));
    }
  }
  return out;
}

function literal(v: string): string {
  // E'' reads backslashes the same way whatever standard_conforming_strings is.
  return `E'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * The SQL that gives a server the client's parameters, or undefined when it has them already. Records the new
 * values in `have` (reported parameters are corrected by the ParameterStatus the server then sends).
 * `defaults` are the values a fresh server reports; parameters someone else set that the client did not ask for are RESET.
 */
export function syncStatement(want: ReadonlyMap<string, string>, have: Map<string, string>, defaults: ReadonlyMap<string, string>): string | undefined {
  const sets: string[] = [];
  const resets: string[] = [];
  for (const [k, v] of want) {
    if (READ_ONLY.has(k) || have.get(k) === v) continue;
    sets.push(`pg_catalog.set_config(${literal(k)}, ${literal(v)}, false)`);
    have.set(k, v);
  }
  for (const k of have.keys()) {
    if (want.has(k) || defaults.has(k) || READ_ONLY.has(k)) continue;
    resets.push(`RESET "${k.replace(/"/g, '""')}"`);
    have.delete(k);
  }
  if (!sets.length && !resets.length) return undefined;
  const parts: string[] = [];
  if (resets.length) parts.push(...resets);
  if (sets.length) parts.push(`SELECT ${sets.join(', ')}`);
  return parts.join('; ');
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
