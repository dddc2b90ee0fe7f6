// Routes a CancelRequest to the node (and worker process) that handed out its key: handled here when the key is this process's, sent to its owner otherwise; rate-limited per source address.
import type { LogLike, Logger } from '../observability/index.js';
import type { Backend } from '../pool/index.js';
import type { TenantRecord } from '../store/index.js';
import { AddressRateLimiter, slotOf, workerOf, type Fleet, type FleetMetrics, type ForwardedCancel } from '../fleet/index.js';
import type { AccessCheck } from './front-door.js';
import type { TenantLookup } from './tenant-resolve.js';

export interface CancelRouterDeps {
  fleet: Fleet;
  backend: Backend;
  tenants: TenantLookup;
  access: AccessCheck;
  logger: Logger;
  metrics: FleetMetrics;
  /** Counts a cancel refused by the allowlist (connections_refused, by reason and tenant). */
  refused(reason: string, tenantId: string): void;
  ratePerAddress: number;
  /** This worker process's number when the node runs several (keys of the others go through the fleet seam to them). */
  worker?: number;
}

export class CancelRouter {
  private readonly limiter: AddressRateLimiter;
  private readonly log: Logger;

  constructor(private readonly d: CancelRouterDeps) {
    this.limiter = new AddressRateLimiter(d.ratePerAddress);
    this.log = d.logger.child({ component: 'cancel' });
    d.fleet.onCancel((c) => this.receive(c));
  }

  /** A CancelRequest that arrived on this node from `clientIp`. Unknown keys are ignored silently, as PostgreSQL does. */
  route(pid: number, secret: number, clientIp: string, log: LogLike): void {
    if (!this.limiter.take(clientIp)) {
      this.d.metrics.cancels.inc({ route: 'dropped' });
      log.info({ event: 'cancel_ignored', reason: 'rate_limited' }, 'cancel request over the per-address rate ignored');
      return;
    }
    const slot = slotOf(pid);
    const elsewhere = (this.d.fleet.shared && slot !== this.d.fleet.slot) || (this.d.worker !== undefined && workerOf(pid) !== this.d.worker);
    if (elsewhere) {
      this.d.metrics.cancels.inc({ route: 'forwarded' });
      void this.d.fleet.forwardCancel(slot, { pid, secret, clientIp }).then((sent) => {
        if (!sent) log.debug({ event: 'cancel_ignored', reason: 'owner unreachable', slot }, 'cancel request for another node could not be forwarded');
      });
      return;
    }
    this.d.metrics.cancels.inc({ route: 'local' });
    this.cancelHere(pid, secret, clientIp, log);
  }

  private receive(c: ForwardedCancel): void {
    this.d.metrics.cancels.inc({ route: 'received' });
    this.cancelHere(c.pid, c.secret, c.clientIp, this.log.child({ client: c.clientIp, fromNode: c.fromNode }));
  }

  /** The key is this node's: checks it and the client's tenant allowlist, then cancels on the client's current server. */
  private cancelHere(pid: number, secret: number, clientIp: string, log: LogLike): void {
    const target = this.d.backend.cancelTarget(pid, secret);
    if (!target) {
      log.debug({ event: 'cancel_ignored', reason: 'unknown key' }, 'cancel request with unknown key ignored');
      return;
    }
    const tenant: TenantRecord | undefined = this.d.tenants.getTenant(target.tenantId);
    const denied = tenant ? this.d.access.check(tenant, clientIp) : undefined;
    if (!tenant || denied) {
      this.d.refused(denied?.kind ?? 'tenant_unknown', target.tenantId);
      log.info({ event: 'cancel_ignored', tenant: target.tenantId, reason: denied?.kind ?? 'tenant_unknown' }, 'cancel request from a disallowed address ignored');
      return;
    }
    log.info({ event: 'cancel', tenant: target.tenantId }, 'cancel request forwarded');
    target.cancel();
  }
}
