// Public face of the server-connection area: where an upstream is, logging in to it (the one login pool and authQuery share), cancelling on it, and, for tenants with several, their roles, health and routing.
export { connectUpstream, type ServerConnection, type UpstreamAuthenticator, type ServerKey } from './connect.js';
export { cancelUpstream } from './cancel.js';
export { upstreamTarget, type UpstreamTarget } from './target.js';
export { UpstreamError, upstreamClientError, type UpstreamErrorCode } from './errors.js';
export { tenantUpstreams, isRouted, firstUpstream, sameTarget, machineOf, machineById, type UpstreamSpec, type MachineSubject } from './list.js';
export { roleOf, reportFromParams, nextBan, banned, type Role, type RoleReport, type Ban } from './roles.js';
export { route, findWriter, clientTarget, isTarget, type Candidate, type Route, type RouteOptions } from './routing.js';
export { TenantHealth, type UpstreamStatus, type TenantHealthOptions } from './health.js';
export { ProbeConnection, PROBE_SQL, type ProbeLogin } from './probe.js';
export { registerUpstreamMetrics } from './health-metrics.js';
