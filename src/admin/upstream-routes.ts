// The admin API's view of routed tenants' servers: role, health, ban and replication lag of each upstream, as this node sees them.
import type { UpstreamStatus } from '../upstream/index.js';
import type { Store } from '../store/index.js';
import { notFound } from './http-error.js';
import type { RouteHandler } from './server.js';

export function registerUpstreamRoutes(route: (method: string, path: string, handler: RouteHandler) => void, deps: { statuses(): UpstreamStatus[]; store: Store }): void {
  // ?tenant=acme narrows the list to one tenant.
  route('GET', '/v1/upstreams', (req) => {
    const tenant = req.query.get('tenant');
    return { status: 200, body: { upstreams: deps.statuses().filter((u) => tenant === null || u.tenant === tenant) } };
  });
  route('GET', '/v1/tenants/:id/upstreams', (req) => {
    const id = req.params.id!;
    if (!deps.store.getTenant(id)) throw notFound(id);
    return { status: 200, body: { tenant: id, upstreams: deps.statuses().filter((u) => u.tenant === id) } };
  });
}
