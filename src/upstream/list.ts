// A tenant's servers as one list, whether it configured a single `upstream` or an `upstreams` list: the shape routing, pools and probes start from.
import type { FlyTenantConfig, TenantConfig } from '../config/index.js';
import { upstreamTarget, type UpstreamTarget } from './target.js';

/** One server of a tenant. */
export interface UpstreamSpec {
  /** Unique within the tenant: the entry's `name`, else `host:port`. */
  readonly name: string;
  readonly target: UpstreamTarget;
  readonly region: string | undefined;
  /** The operator's hint (`role`); the probed role wins. */
  readonly hint: 'primary' | 'replica' | undefined;
  /** The machine to wake for it (an `upstreams` entry's own `fly`); a single `upstream` wakes through its tenant's. */
  readonly fly: FlyTenantConfig | undefined;
}

/** The tenant's servers, in config order. */
export function tenantUpstreams(t: Pick<TenantConfig, 'upstream' | 'upstreams'>): UpstreamSpec[] {
  if (t.upstreams) {
    return t.upstreams.map((u) => ({ name: u.name ?? `${u.host}:${u.port}`, target: upstreamTarget(u), region: u.region, hint: u.role, fly: u.fly }));
  }
  const u = t.upstream!;
  return [{ name: `${u.host}:${u.port}`, target: upstreamTarget(u), region: undefined, hint: undefined, fly: undefined }];
}

/** Whether the tenant routes among several servers (an `upstreams` list, even of one) rather than using one fixed server. */
export function isRouted(t: Pick<TenantConfig, 'upstreams'>): boolean {
  return t.upstreams !== undefined;
}

/** The server to use when nothing is known about roles (authQuery, the admin views): the hinted primary, else the first. */
export function firstUpstream(t: Pick<TenantConfig, 'upstream' | 'upstreams'>): UpstreamSpec {
  const list = tenantUpstreams(t);
  return list.find((u) => u.hint === 'primary') ?? list[0]!;
}

export function sameTarget(a: UpstreamTarget, b: UpstreamTarget): boolean {
  return a.host === b.host && a.port === b.port && a.tls === b.tls && a.caFile === b.caFile;
}

/** The machine behind a pool or a probe: the tenant's own (`fly` of a single `upstream`), or in a list the entry's. */
export interface MachineSubject {
  /** The tenant id, or `tenant/upstream` for an entry of a list (tenant ids have no "/"). */
  readonly id: string;
  readonly fly?: FlyTenantConfig | undefined;
}

export function machineOf(tenant: Pick<TenantConfig, 'id' | 'fly' | 'upstreams'>, spec: UpstreamSpec): MachineSubject {
  return isRouted(tenant) ? { id: `${tenant.id}/${spec.name}`, fly: spec.fly } : { id: tenant.id, fly: tenant.fly };
}

/** The subject behind an id made by machineOf, as the tenant is configured now; undefined once either is gone. */
export function machineById(id: string, tenant: (id: string) => Pick<TenantConfig, 'id' | 'fly' | 'upstream' | 'upstreams'> | undefined): MachineSubject | undefined {
  const slash = id.indexOf('/');
  if (slash < 0) return tenant(id);
  const t = tenant(id.slice(0, slash));
  const name = id.slice(slash + 1);
  const spec = t?.upstreams ? tenantUpstreams(t).find((u) => u.name === name) : undefined;
  return spec ? { id, fly: spec.fly } : undefined;
}
