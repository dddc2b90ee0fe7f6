// Checks records read back from disk or Redis before they can replace the rules in memory.
import { parseCidr } from '../net/index.js';
import type { TenantRecord } from './types.js';

const TENANT_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * Returns the record when it has the shape the rest of pgporter relies on, or a reason it does not.
 * Structural on purpose: records are stored in the schema's output form, which need not re-parse as input
 * (a duration stored as milliseconds, say), and unknown extra fields from newer versions pass through.
 */
export function checkStoredTenant(raw: unknown): TenantRecord | string {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return 'not an object';
  const r = raw as Record<string, unknown>;
  if (typeof r.id !== 'string' || !TENANT_ID.test(r.id)) return 'id is missing or invalid';
  const address = (up: unknown) => !!up && typeof up === 'object' && typeof (up as Record<string, unknown>).host === 'string' && typeof (up as Record<string, unknown>).port === 'number';
  if (r.upstreams !== undefined) {
    if (!Array.isArray(r.upstreams) || r.upstreams.length === 0 || !r.upstreams.every(address)) return `tenant "${r.id}": every upstreams entry needs host and port`;
  } else if (!address(r.upstream)) {
    return `tenant "${r.id}": upstream.host and upstream.port are required`;
  }
  if (r.allowlist !== undefined) {
    if (!Array.isArray(r.allowlist)) return `tenant "${r.id}": allowlist is not an array`;
    for (const e of r.allowlist) {
      if (typeof e !== 'string') return `tenant "${r.id}": allowlist entry is not a string`;
      try {
        parseCidr(e);
      } catch (err) {
        return `tenant "${r.id}": ${(err as Error).message}`;
      }
    }
  }
  if (r.dropDisallowedSessions !== undefined && typeof r.dropDisallowedSessions !== 'boolean') {
    return `tenant "${r.id}": dropDisallowedSessions is not a boolean`;
  }
  return { ...r, dropDisallowedSessions: r.dropDisallowedSessions ?? false } as TenantRecord;
}

/** Checks a whole snapshot; any bad record rejects all of it, so a half-valid file never half-replaces the rules. */
export function checkStoredTenants(raw: unknown): TenantRecord[] | string {
  if (!Array.isArray(raw)) return 'tenants is not an array';
  const out: TenantRecord[] = [];
  const ids = new Set<string>();
  for (const item of raw) {
    const r = checkStoredTenant(item);
    if (typeof r === 'string') return r;
    if (ids.has(r.id)) return `duplicate tenant "${r.id}"`;
    ids.add(r.id);
    out.push(r);
  }
  return out;
}
