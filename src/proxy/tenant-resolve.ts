// Finds the tenant a client means: SNI first label, then a `user.tenant` suffix, then the only tenant.
import { ClientError } from '../errors.js';
import type { TenantRecord } from '../store/index.js';

export interface TenantLookup {
  getTenant(id: string): TenantRecord | undefined;
  listTenants(): TenantRecord[];
}

export interface ResolvedTenant {
  tenant: TenantRecord;
  /** The user name to present upstream (the `.tenant` suffix removed). */
  user: string;
  via: 'sni' | 'user' | 'only';
}

export function resolveTenant(lookup: TenantLookup, user: string, servername: string | undefined): ResolvedTenant {
  if (servername) {
    const label = servername.split('.')[0]!.toLowerCase();
    const t = lookup.getTenant(label);
    if (t) {
      // A client may still add the suffix; strip it when it names the same tenant.
      const suffixed = user.endsWith(`.${t.id}`) ? user.slice(0, -(t.id.length + 1)) : user;
      return { tenant: t, user: suffixed, via: 'sni' };
    }
  }
  const dot = user.lastIndexOf('.');
  if (dot > 0 && dot < user.length - 1) {
    const id = user.slice(dot + 1);
    const t = lookup.getTenant(id);
    if (t) return { tenant: t, user: user.slice(0, dot), via: 'user' };
  }
  const all = lookup.listTenants();
  if (all.length === 1) return { tenant: all[0]!, user, via: 'only' };
  if (dot > 0 && dot < user.length - 1) {
    throw new ClientError('TENANT_UNKNOWN', `tenant "${user.slice(dot + 1)}" does not exist`);
  }
  if (all.length === 0) throw new ClientError('TENANT_UNKNOWN', 'no tenants are configured');
  throw new ClientError('TENANT_UNRESOLVED', 'cannot tell which tenant this connection is for', {
    hint: 'Connect with the tenant as the first label of the host name (TLS SNI), or as a suffix of the user name: user.tenant',
  });
}
