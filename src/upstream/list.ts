// A tenant's servers as one list, whether it configured a single `upstream` or an `upstreams` list: the shape routing, pools and probes start from.
import type { TenantConfig } from '../config/index.js';
import { upstreamTarget, type UpstreamTarget } from './target.js';

/** One server of a tenant. */
export interface UpstreamSpec {
  /** Unique within the tenant: the entry's `name`, else `host:port`. */
  readonly name: string;
  readonly target: UpstreamTarget;
  readonly region: string | undefined;
  /** The operator's hint (`role`); the probed role wins. */
  readonly hint: 'primary' | 'replica' | undefined;
}

/** The tenant's servers, in config order. */
export function tenantUpstreams(t: Pick<TenantConfig, 'upstream' | 'upstreams'>): UpstreamSpec[] {
  if (t.upstreams) {
    return t.upstreams.map((u) => ({ name: u.name ?? `${u.host}:${u.port}`, target: upstreamTarget(u), region: u.region, hint: u.role }));
  }
  const u = t.upstream!;
  return [{ name: `${u.host}:${u.port}`, target: upstreamTarget(u), region: undefined, hint: undefined }];
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
