// The admin API's ban routes: list the failed-login bans in force and lift one on every node, with an audit line.
import type { Logger } from '../observability/index.js';
import { HttpError } from './http-error.js';
import type { RouteHandler } from './server.js';

/** What the routes need from the ban list (src/netrules/bans.ts). */
export interface BanAdmin {
  list(tenantId?: string): Promise<Array<{ tenant: string; address: string; expiresAt: string; remainingMs: number }>>;
  /** false when there was no ban; throws RangeError for text that is not an address. */
  lift(tenantId: string, address: string): Promise<boolean>;
}

export function registerBanRoutes(route: (method: string, path: string, handler: RouteHandler) => void, deps: { bans: BanAdmin; logger: Logger }): void {
  const { bans, logger } = deps;

  // ?tenant=acme narrows the list to one tenant.
  route('GET', '/v1/bans', async (req) => ({ status: 200, body: { bans: await bans.list(req.query.get('tenant') ?? undefined) } }));

  route('DELETE', '/v1/bans/:tenant/:address', async (req) => {
    const { tenant, address } = req.params as { tenant: string; address: string };
    let lifted: boolean;
    try {
      lifted = await bans.lift(tenant, address);
    } catch (err) {
      if (err instanceof RangeError) throw new HttpError(400, 'INVALID_ADDRESS', err.message, 'address');
      throw err;
    }
    if (!lifted) throw new HttpError(404, 'BAN_NOT_FOUND', `no ban for host "${address}", tenant "${tenant}"`, 'address');
    logger.info({ event: 'admin_audit', tokenName: req.tokenName, action: 'ban.lift', tenant, before: { ban: address }, after: { ban: null } }, 'admin ban.lift');
    return { status: 200, body: { lifted: { tenant, address } } };
  });
}
