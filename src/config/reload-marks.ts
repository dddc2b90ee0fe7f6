// Which config options a reload (SIGHUP, POST /v1/reload) may change, and whether a change reaches connections already open or only new ones.
//
// The table sits next to the schema and is keyed by option path (`tenants[]` for every tenant); the longest prefix
// that matches an option decides. README's "Reloading the config" table is rendered from it (`reloadMarksMarkdown`),
// and a test keeps the two equal and checks that every option of the schema has a mark.

/** restart: a reload that changes it is refused; new: connections (or logins, server connections) after the reload; existing: open connections too. */
export type ReloadKind = 'restart' | 'new' | 'existing';

export interface ReloadMark {
  readonly kind: ReloadKind;
  /** What the change reaches, in one sentence for the README. */
  readonly applies: string;
}

const restart = (why: string): ReloadMark => ({ kind: 'restart', applies: why });
const fresh = (applies: string): ReloadMark => ({ kind: 'new', applies });
const existing = (applies: string): ReloadMark => ({ kind: 'existing', applies });

/** Option path (or section) → mark. Order is the README's. */
export const RELOAD_MARKS: Readonly<Record<string, ReloadMark>> = Object.freeze({
  workers: restart('worker processes are forked once, at start'),
  workerScheduling: restart('the shared listening socket is set up once, at start'),
  listen: restart('the listening socket is bound once, at start'),
  'proxyProtocol.mode': fresh('connections accepted after the reload'),
  'proxyProtocol.trustedProxies': fresh('PROXY headers of connections accepted after the reload; the ban exemption of proxy addresses at once'),
  'proxyProtocol.headerTimeout': fresh('connections accepted after the reload'),
  'tls.certFile': fresh('TLS handshakes after the reload; both files are read again on every reload, so a renewed certificate at the same path is picked up'),
  'tls.keyFile': fresh('as tls.certFile'),
  'tls.requireTls': fresh('logins after the reload'),
  startup: fresh('connections accepted after the reload'),
  'upstream.connectTimeout': restart('copied into the pools and the wake step when they are built'),
  metrics: restart('the metrics listener is bound once, at start'),
  'log.level': existing('every log line from then on, open connections included'),
  'netrules.defaultPolicy': restart('the access check and the admin API are built with it'),
  'netrules.authFailureBan': restart('the ban list and its Redis synchronisation are built with it'),
  store: restart('the store is opened once, at start'),
  admin: restart('the admin listener and its tokens are set up once, at start'),
  fly: restart('the Machines API client is built once, at start'),
  'pool.maxClientConnections': fresh('admissions after the reload; clients already admitted above a lower limit stay'),
  fleet: restart('node identity, heartbeat and cancel forwarding are set up once, at start'),
  health: existing('the next probe of every upstream; bans already given keep their end'),
  'failover.primaryWait': fresh('clients that start waiting for a writer after the reload'),
  'shutdown.timeout': fresh('the next drain (SIGTERM, POST /v1/drain)'),
  'tenants[]': fresh('a tenant added to the file is created in the store (unless the store already holds its id); see the tenant rows'),
  'tenants[].upstream': fresh('server connections opened after the reload: the pool retires its servers to the old upstream at once (busy ones after their transaction); open clients stay connected'),
  'tenants[].upstreams': fresh('new servers are probed at once; pools of a removed or moved server close its servers (busy ones after their transaction); open clients stay connected and are routed again at their next transaction'),
  'tenants[].routing': existing('the next transaction of every client (the target a client chose at login stays)'),
  'tenants[].requireTls': fresh('logins after the reload'),
  'tenants[].allowlist': existing('connections after the reload; sessions already open from a removed address end only with dropDisallowedSessions: true'),
  'tenants[].dropDisallowedSessions': fresh('the next allowlist change'),
  'tenants[].auth': fresh('logins after the reload'),
  'tenants[].fly': fresh('the next wake or idle check of the tenant'),
  'tenants[].pool': fresh('pools take the new settings at once (a larger size serves waiting clients, a smaller one closes servers as they come back); open clients keep their server and their transaction'),
  'tenants[].authFailureBan': fresh('failed logins counted after the reload'),
});

/** `tenants[3].pool.size` → `tenants[].pool.size`: the key spelling of the table. */
export function markKey(path: string): string {
  return path.replace(/\[\d+\]/g, '[]');
}

/** The mark that governs an option path (the longest matching prefix), or undefined when none does. */
export function reloadMarkOf(path: string): ReloadMark | undefined {
  let key = markKey(path);
  for (;;) {
    const m = RELOAD_MARKS[key];
    if (m) return m;
    const cut = Math.max(key.lastIndexOf('.'), key.endsWith('[]') ? key.length - 2 : -1);
    if (cut <= 0) return undefined;
    key = key.slice(0, cut);
  }
}

const KIND_TEXT: Record<ReloadKind, string> = {
  restart: 'no: refused, restart to change',
  new: 'yes, new',
  existing: 'yes, existing too',
};

/** The README table (between its reload-marks comments), rendered from RELOAD_MARKS. */
export function reloadMarksMarkdown(): string {
  const rows = Object.entries(RELOAD_MARKS).map(([key, m]) => `| \`${key}\` | ${KIND_TEXT[m.kind]} | ${m.applies} |`);
  return ['| option | reloadable | applies to |', '|---|---|---|', ...rows].join('\n');
}
