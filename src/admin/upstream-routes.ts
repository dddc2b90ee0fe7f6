// The admin API's view of routed tenants' servers: role, health, ban and replication lag of each upstream, as this node sees them (with several workers, the latest view among them).
import type { UpstreamStatus } from '../upstream/index.js';
import type { Store } from '../store/index.js';
import { notFound } from './http-error.js';
import type { RouteHandler } from './server.js';

export function registerUpstreamRoutes(route: (method: string, path: string, handler: RouteHandler) => void, deps: { statuses(): UpstreamStatus[] | Promise<UpstreamStatus[]>; store: Store }): void {
  // ?tenant=acme narrows the list to one tenant.
  route('GET', '/v1/upstreams', async (req) => {
    const tenant = req.query.get('tenant');
    return { status: 200, body: { upstreams: (await deps.statuses()).filter((u) => tenant === null || u.tenant === tenant) } };
  });
  route('GET', '/v1/tenants/:id/upstreams', async (req) => {
    const id = req.params.id!;
    if (!deps.store.getTenant(id)) throw notFound(id);
    return { status: 200, body: { tenant: id, upstreams: (await deps.statuses()).filter((u) => u.tenant === id) } };
  });
}
