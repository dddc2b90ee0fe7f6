// Admin routes for the node's lifecycle: drain (stop without drops) and PAUSE/RESUME of a tenant for upstream maintenance.
import { z } from 'zod';
import type { Logger } from '../observability/index.js';
import type { RouteHandler } from './server.js';
import { HttpError, fromZodError, notFound } from './http-error.js';
import { duration } from '../config/index.js';

export interface LifecycleControl {
  /** Starts draining this node (as SIGTERM does); the process exits once it is done. */
  drain(reason: string): void;
  /** Resolves once the tenant's transactions under way have finished and its server connections are closed. */
  pause(tenantId: string): Promise<void>;
  resume(tenantId: string): void;
  tenantExists(tenantId: string): boolean;
}

const pauseBody = z.strictObject({ timeout: duration('30s') }).prefault({});

export function registerLifecycleRoutes(route: (method: string, path: string, handler: RouteHandler) => void, ctl: LifecycleControl, logger: Logger): void {
  route('POST', '/v1/drain', (req) => {
    logger.info({ event: 'admin_audit', token: req.tokenName, action: 'drain' }, 'drain requested through the admin API');
    ctl.drain(`admin API (${req.tokenName})`);
    return { status: 202, body: { draining: true } };
  });
  route('POST', '/v1/tenants/:id/pause', async (req) => {
    const id = req.params.id!;
    if (!ctl.tenantExists(id)) throw notFound(id);
    const parsed = pauseBody.safeParse(req.body ?? {});
    if (!parsed.success) throw fromZodError(parsed.error);
    logger.info({ event: 'admin_audit', token: req.tokenName, action: 'tenant.pause', tenant: id }, 'tenant paused');
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      ctl.pause(id).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), parsed.data.timeout))),
    ]);
    clearTimeout(timer);
    // Still pausing after the timeout: new transactions stay held; the caller may wait again or resume.
    if (!done) throw new HttpError(504, 'PAUSE_TIMEOUT', `tenant "${id}" still has transactions under way after ${parsed.data.timeout} ms; it stays paused`, 'timeout');
    return { status: 200, body: { tenant: id, paused: true } };
  });
  route('POST', '/v1/tenants/:id/resume', (req) => {
    const id = req.params.id!;
    if (!ctl.tenantExists(id)) throw notFound(id);
    logger.info({ event: 'admin_audit', token: req.tokenName, action: 'tenant.resume', tenant: id }, 'tenant resumed');
    ctl.resume(id);
    return { status: 200, body: { tenant: id, paused: false } };
  });
}
