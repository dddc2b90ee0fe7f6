// The open client sessions by tenant, so an allowlist edit or a suspend can find and end them.
import type { ClientError } from '../errors.js';

export interface OpenSession {
  readonly tenantId: string;
  readonly clientIp: string;
  end(err: ClientError): void;
}

export class SessionRegistry {
  private readonly byTenant = new Map<string, Set<OpenSession>>();

  add(s: OpenSession): void {
    let set = this.byTenant.get(s.tenantId);
    if (!set) this.byTenant.set(s.tenantId, (set = new Set()));
    set.add(s);
  }

  delete(s: OpenSession): void {
    const set = this.byTenant.get(s.tenantId);
    if (!set) return;
    set.delete(s);
    if (set.size === 0) this.byTenant.delete(s.tenantId);
  }

  sessionsOf(tenantId: string): Iterable<OpenSession> {
    return [...(this.byTenant.get(tenantId) ?? [])];
  }

  count(tenantId?: string): number {
    if (tenantId !== undefined) return this.byTenant.get(tenantId)?.size ?? 0;
    let n = 0;
    for (const s of this.byTenant.values()) n += s.size;
    return n;
  }

  all(): OpenSession[] {
    const out: OpenSession[] = [];
    for (const s of this.byTenant.values()) out.push(...s);
    return out;
  }
}
