// `pgporter tenants list|show|create|update|delete`: manages tenants through the admin API.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseUpstreams } from './upstream-spec.js';
import { AdminClient, COMMON_USAGE, CONNECTION_OPTIONS, readAll, runCommand, table, usageError, type CommandIo } from './admin-client.js';

export const TENANTS_USAGE = `usage:
  pgporter tenants list                      one line per tenant
  pgporter tenants show   ID                 the tenant's settings (secrets shown as [redacted])
  pgporter tenants create ID --upstream-host HOST [field flags]
  pgporter tenants update ID [field flags]   change only the fields given
  pgporter tenants delete ID
  pgporter tenants upstreams ID              each upstream's role, health, ban and lag (routed tenants)
field flags (create and update):
  --upstream-host HOST  --upstream-port PORT  --upstream-tls disable|require|verify-full
  --upstreams [name=]HOST:PORT[@REGION][/primary|/replica][#APP/MACHINE[:SUSPEND_AFTER]][,...]
                        several servers, roles probed (replaces --upstream-*); #APP/MACHINE is the Fly machine
                        running that server (woken when a read needs it; suspended after SUSPEND_AFTER idle, e.g. 5m)
  --default-target read-write|primary|read-only|standby|prefer-standby|any   --read-fallback primary|refuse
  --allowlist CIDR[,CIDR...]   --no-allowlist (update: remove the list, default policy applies)
  --drop-disallowed-sessions true|false   --require-tls true|false
  --json-body FILE|-    take the body from a JSON file (or stdin) in config form, like a "tenants:" entry;
                        create sends it as the new tenant, update as a PATCH (top-level fields replaced)
${COMMON_USAGE}`;

interface Tenant {
  id: string;
  upstream?: { host: string; port: number; tls?: string };
  upstreams?: { host: string; port: number; name?: string }[];
  routing?: Record<string, unknown>;
  allowlist?: string[];
  dropDisallowedSessions?: boolean;
  requireTls?: boolean;
}

const bool = (flag: string, v: string | undefined): boolean | undefined => {
  if (v === undefined) return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw usageError(`--${flag}: expected true or false, got "${v}"`);
};

export async function runTenantsCommand(argv: string[], io: CommandIo): Promise<number> {
  return runCommand('tenants', TENANTS_USAGE, io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        ...CONNECTION_OPTIONS,
        'upstream-host': { type: 'string' },
        'upstream-port': { type: 'string' },
        'upstream-tls': { type: 'string' },
        upstreams: { type: 'string' },
        'default-target': { type: 'string' },
        'read-fallback': { type: 'string' },
        allowlist: { type: 'string' },
        'no-allowlist': { type: 'boolean', default: false },
        'drop-disallowed-sessions': { type: 'string' },
        'require-tls': { type: 'string' },
        'json-body': { type: 'string' },
      },
    });
    if (values.help) {
      io.stdout.write(TENANTS_USAGE);
      return;
    }
    const [action, id, ...extra] = positionals;
    if (!action) throw usageError('missing sub-command');
    if (!['list', 'show', 'create', 'update', 'delete', 'upstreams'].includes(action)) throw usageError(`unknown sub-command "${action}"`);
    if (action !== 'list' && !id) throw usageError(`${action}: missing tenant ID`);
    if (extra.length || (action === 'list' && id)) throw usageError(`unexpected argument "${action === 'list' ? id : extra[0]}"`);

    // Field flags become a partial body in config form; the API validates it and names any bad field.
    const fields: Record<string, unknown> = {};
    const upstream: Record<string, unknown> = {};
    if (values['upstream-host'] !== undefined) upstream.host = values['upstream-host'];
    if (values['upstream-port'] !== undefined) {
      const p = Number(values['upstream-port']);
      if (!Number.isInteger(p)) throw usageError(`--upstream-port: expected a number, got "${values['upstream-port']}"`);
      upstream.port = p;
    }
    if (values['upstream-tls'] !== undefined) upstream.tls = values['upstream-tls'];
    if (values.upstreams !== undefined) {
      if (Object.keys(upstream).length) throw usageError('--upstreams replaces --upstream-host/--upstream-port/--upstream-tls; give one or the other');
      fields.upstreams = parseUpstreams(values.upstreams);
    }
    const routing: Record<string, unknown> = {};
    if (values['default-target'] !== undefined) routing.defaultTarget = values['default-target'];
    if (values['read-fallback'] !== undefined) routing.readFallback = values['read-fallback'];
    if (values.allowlist !== undefined && values['no-allowlist']) throw usageError('--allowlist and --no-allowlist contradict each other');
    if (values.allowlist !== undefined) fields.allowlist = values.allowlist.split(',').map((s) => s.trim()).filter(Boolean);
    if (values['no-allowlist']) fields.allowlist = null;
    const drop = bool('drop-disallowed-sessions', values['drop-disallowed-sessions']);
    if (drop !== undefined) fields.dropDisallowedSessions = drop;
    const requireTls = bool('require-tls', values['require-tls']);
    if (requireTls !== undefined) fields.requireTls = requireTls;
    const hasFieldFlags = Object.keys(fields).length > 0 || Object.keys(upstream).length > 0 || Object.keys(routing).length > 0;
    if ((action === 'create' || action === 'update') && values['json-body'] !== undefined && hasFieldFlags) {
      throw usageError('--json-body replaces the field flags; give one or the other');
    }
    if (!(action === 'create' || action === 'update') && (hasFieldFlags || values['json-body'] !== undefined)) {
      throw usageError(`${action} takes no field flags`);
    }

    const api = AdminClient.from(values, io.env);
    const path = id ? `/v1/tenants/${encodeURIComponent(id)}` : '/v1/tenants';
    const out = (v: unknown) => io.stdout.write(`${JSON.stringify(v)}\n`);
    switch (action) {
      case 'list': {
        const r = (await api.request('GET', '/v1/tenants')) as { tenants: Tenant[] };
        if (values.json) return void out(r);
        io.stdout.write(
          table(
            ['ID', 'UPSTREAM', 'ALLOWLIST', 'DROP_SESSIONS'],
            r.tenants.map((t) => [
              t.id,
              (t.upstreams ?? (t.upstream ? [t.upstream] : [])).map((u) => `${u.host.includes(':') ? `[${u.host}]` : u.host}:${u.port}`).join(','),
              t.allowlist === undefined ? 'default' : `${t.allowlist.length} entr${t.allowlist.length === 1 ? 'y' : 'ies'}`,
              String(t.dropDisallowedSessions ?? false),
            ]),
          ),
        );
        return;
      }
      case 'show': {
        const r = (await api.request('GET', path)) as { tenant: Tenant };
        if (values.json) return void out(r);
        io.stdout.write(`${JSON.stringify(r.tenant, null, 2)}\n`);
        return;
      }
      case 'upstreams': {
        const r = (await api.request('GET', `${path}/upstreams`)) as { upstreams: Record<string, unknown>[] };
        if (values.json) return void out(r);
        const now = Date.now();
        io.stdout.write(
          table(
            ['UPSTREAM', 'ADDRESS', 'REGION', 'ROLE', 'LAG_S', 'BANNED_S', 'LAST_ERROR'],
            r.upstreams.map((u) => [
              String(u.name),
              `${u.host}:${u.port}`,
              String(u.region ?? '-'),
              String(u.role),
              u.lagSeconds === undefined ? '-' : Number(u.lagSeconds).toFixed(1),
              u.bannedUntil === undefined ? '0' : String(Math.ceil((Number(u.bannedUntil) - now) / 1000)),
              String(u.lastError ?? '-'),
            ]),
          ),
        );
        return;
      }
      case 'delete': {
        const r = await api.request('DELETE', path);
        if (values.json) return void out(r);
        io.stdout.write(`deleted tenant ${id}\n`);
        return;
      }
      case 'create':
      case 'update': {
        let body: Record<string, unknown>;
        if (values['json-body'] !== undefined) body = await readJsonBody(values['json-body'], io);
        else {
          body = { ...fields };
          if (Object.keys(routing).length) {
            // PATCH replaces `routing` whole: keep the fields not named.
            const cur = action === 'update' ? ((await api.request('GET', path)) as { tenant: Tenant }).tenant.routing : undefined;
            body.routing = { ...cur, ...routing };
          }
          if (Object.keys(upstream).length) {
            if (action === 'update' && upstream.host === undefined) {
              // PATCH replaces `upstream` whole: start from the current one so --upstream-port alone keeps the host.
              const cur = (await api.request('GET', path)) as { tenant: Tenant };
              body.upstream = { ...cur.tenant.upstream, ...upstream };
            } else body.upstream = upstream;
          }
          if (action === 'create' && upstream.host === undefined && fields.upstreams === undefined) throw usageError('create: --upstream-host or --upstreams is required (or --json-body)');
          if (action === 'update' && Object.keys(body).length === 0) throw usageError('update: nothing to change');
        }
        const r = (await api.request(action === 'create' ? 'POST' : 'PATCH', action === 'create' ? '/v1/tenants' : path, action === 'create' ? { ...body, id } : body)) as {
          tenant: Tenant;
        };
        if (values.json) return void out(r);
        io.stdout.write(`${action === 'create' ? 'created' : 'updated'} tenant ${r.tenant.id}\n`);
        return;
      }
    }
  });
}

async function readJsonBody(source: string, io: CommandIo): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = source === '-' ? await readAll(io.stdin ?? process.stdin) : readFileSync(source, 'utf8');
  } catch (err) {
    throw usageError(`--json-body: ${(err as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw usageError(`--json-body: not valid JSON: ${(err as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw usageError('--json-body: expected a JSON object');
  return v as Record<string, unknown>;
}
