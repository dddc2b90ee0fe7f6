// The admin API's tenant and allowlist routes: validate with the config schema, write through the store, audit every change.
import { z } from 'zod';
import { allowlistSchema, tenantSchema } from '../config/index.js';
import { parseCidr } from '../net/index.js';
import type { Logger } from '../observability/index.js';
import type { Store, TenantRecord } from '../store/index.js';
import { fromZodError, HttpError, notFound } from './http-error.js';
import { findPlaceholder, redact, REDACTED } from './redact.js';
import type { AdminRequest, AdminResponse, RouteHandler } from './server.js';

interface Deps {
  store: Store;
  logger: Logger;
  defaultPolicy: 'allow' | 'deny';
}

const replaceAllowlistBody = z.strictObject({ entries: allowlistSchema.nullable() });
const addEntriesBody = z.strictObject({ entries: allowlistSchema.min(1, 'give at least one entry') });

function parse<S extends z.ZodType>(schema: S, body: unknown, prefix: PropertyKey[] = []): z.output<S> {
  if (body === undefined) throw new HttpError(400, 'INVALID_BODY', 'a JSON body is required', '(body)');
  const placeholder = findPlaceholder(body);
  if (placeholder) {
    throw new HttpError(400, 'INVALID_BODY', `${placeholder}: "${REDACTED}" is the placeholder shown by GET; send the real value or leave the field out`, placeholder);
  }
  const r = schema.safeParse(body);
  if (!r.success) throw fromZodError(r.error, prefix);
  return r.data;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** Canonical form of an entry, so "10.0.0.1/32" and "10.0.0.1" are the same entry when adding or removing. */
const canonical = (entry: string) => parseCidr(entry).canonical;

export function registerTenantRoutes(route: (method: string, path: string, handler: RouteHandler) => void, deps: Deps): void {
  const { store, logger } = deps;

  const existing = (id: string): TenantRecord => {
    const t = store.getTenant(id);
    if (!t) throw notFound(id);
    return t;
  };

  const audit = (req: AdminRequest, action: string, tenant: string, before: unknown, after: unknown) => {
    logger.info({ event: 'admin_audit', tokenName: req.tokenName, action, tenant, before: redact(before), after: redact(after) }, `admin ${action}`);
  };

  const tenantBody = (t: TenantRecord) => ({ tenant: redact(t) });
  const allowlistBody = (t: TenantRecord) => ({
    tenant: t.id,
    entries: t.allowlist ?? null,
    /** What applies: the list, or the default policy when there is none. */
    policy: t.allowlist === undefined ? deps.defaultPolicy : 'list',
  });

  const setAllowlist = async (req: AdminRequest, action: string, t: TenantRecord, list: string[] | undefined): Promise<AdminResponse> => {
    const next: TenantRecord = { ...t };
    if (list === undefined) delete next.allowlist;
    else next.allowlist = list;
    await store.putTenant(next);
    audit(req, action, t.id, { allowlist: t.allowlist ?? null }, { allowlist: list ?? null });
    return { status: 200, body: allowlistBody(next) };
  };

  route('GET', '/v1/tenants', () => ({
    status: 200,
    body: { tenants: store.listTenants().sort((a, b) => a.id.localeCompare(b.id)).map((t) => redact(t)) },
  }));

  route('POST', '/v1/tenants', async (req) => {
    const t = parse(tenantSchema, req.body);
    if (store.getTenant(t.id)) throw new HttpError(409, 'TENANT_EXISTS', `tenant "${t.id}" already exists; use PUT or PATCH /v1/tenants/${t.id}`, 'id');
    await store.putTenant(t);
    audit(req, 'tenant.create', t.id, null, t);
    return { status: 201, body: tenantBody(t) };
  });

  route('GET', '/v1/tenants/:id', (req) => ({ status: 200, body: tenantBody(existing(req.params.id!)) }));

  // PUT replaces the whole tenant (created when absent); the body is in config form, like a `tenants:` entry.
  route('PUT', '/v1/tenants/:id', async (req) => {
    const id = req.params.id!;
    const body = isObject(req.body) && req.body.id === undefined ? { ...req.body, id } : req.body;
    const t = parse(tenantSchema, body);
    if (t.id !== id) throw new HttpError(400, 'INVALID_BODY', `id: "${t.id}" does not match the path's "${id}"`, 'id');
    const before = store.getTenant(id);
    await store.putTenant(t);
    audit(req, before ? 'tenant.replace' : 'tenant.create', id, before ?? null, t);
    return { status: before ? 200 : 201, body: tenantBody(t) };
  });

  // PATCH replaces only the top-level fields it names (null removes an optional one, or restores a default).
  route('PATCH', '/v1/tenants/:id', async (req) => {
    const id = req.params.id!;
    const before = existing(id);
    if (!isObject(req.body)) throw new HttpError(400, 'INVALID_BODY', 'expected a JSON object of fields to change', '(body)');
    const next: Record<string, unknown> = { ...before };
    const shape = tenantSchema.shape as Record<string, z.ZodType>;
    for (const [key, value] of Object.entries(req.body)) {
      if (key === 'id') {
        if (value !== id) throw new HttpError(400, 'INVALID_BODY', 'id: a tenant cannot be renamed; create a new one', 'id');
        continue;
      }
      const field = shape[key];
      if (!field) throw new HttpError(400, 'INVALID_BODY', `${key}: unknown field`, key);
      // Each field is parsed on its own from its input form, so fields stored in output form (durations in ms) are never re-parsed.
      if (value === null) {
        const parsed = field.safeParse(undefined);
        if (!parsed.success) throw new HttpError(400, 'INVALID_BODY', `${key}: is required and cannot be removed`, key);
        if (parsed.data === undefined) delete next[key];
        else next[key] = parsed.data;
      } else next[key] = parse(field, value, [key]);
    }
    // `upstream` and `upstreams` exclude each other: naming one replaces the other.
    if (req.body.upstreams !== undefined && req.body.upstreams !== null) delete next.upstream;
    else if (req.body.upstream !== undefined && req.body.upstream !== null) delete next.upstreams;
    if (next.upstream === undefined && next.upstreams === undefined) throw new HttpError(400, 'INVALID_BODY', 'upstream: a tenant needs upstream or upstreams', 'upstream');
    const after = next as TenantRecord;
    await store.putTenant(after);
    audit(req, 'tenant.update', id, before, after);
    return { status: 200, body: tenantBody(after) };
  });

  route('DELETE', '/v1/tenants/:id', async (req) => {
    const id = req.params.id!;
    const before = existing(id);
    if (!(await store.deleteTenant(id))) throw notFound(id);
    audit(req, 'tenant.delete', id, before, null);
    return { status: 200, body: { deleted: id } };
  });

  route('GET', '/v1/tenants/:id/allowlist', (req) => ({ status: 200, body: allowlistBody(existing(req.params.id!)) }));

  route('PUT', '/v1/tenants/:id/allowlist', async (req) => {
    const t = existing(req.params.id!);
    const { entries } = parse(replaceAllowlistBody, req.body);
    return setAllowlist(req, entries === null ? 'allowlist.clear' : 'allowlist.replace', t, entries ?? undefined);
  });

  route('POST', '/v1/tenants/:id/allowlist/entries', async (req) => {
    const t = existing(req.params.id!);
    const { entries } = parse(addEntriesBody, req.body);
    const list = [...(t.allowlist ?? [])];
    const have = new Set(list.map(canonical));
    for (const e of entries) {
      const c = canonical(e);
      if (!have.has(c)) {
        have.add(c);
        list.push(e.trim());
      }
    }
    return setAllowlist(req, 'allowlist.add', t, list);
  });

  route('DELETE', '/v1/tenants/:id/allowlist/entries/:entry', async (req) => {
    const t = existing(req.params.id!);
    const entry = req.params.entry!;
    let c: string;
    try {
      c = canonical(entry);
    } catch (err) {
      throw new HttpError(400, 'INVALID_CIDR', (err as Error).message, 'entry');
    }
    const list = t.allowlist ?? [];
    const kept = list.filter((e) => canonical(e) !== c);
    if (kept.length === list.length) {
      throw new HttpError(404, 'ENTRY_NOT_FOUND', `tenant "${t.id}" has no allowlist entry "${entry}"`, 'entry');
    }
    return setAllowlist(req, 'allowlist.remove', t, kept);
  });
}
