// Public face of the admin API: the listener (with the tenant and allowlist routes), the ban routes, and its request/response types.
export {
  startAdminServer,
  type AdminServer,
  type AdminServerOptions,
  type AdminRequest,
  type AdminResponse,
  type RouteHandler,
} from './server.js';
export { HttpError } from './http-error.js';
export type { AdminToken } from './token-auth.js';
export { registerBanRoutes, type BanAdmin } from './ban-routes.js';
export { registerLifecycleRoutes, type LifecycleControl } from './lifecycle-routes.js';
export { registerReloadRoute, type ConfigReloader } from './reload-route.js';
export { registerUpstreamRoutes } from './upstream-routes.js';
