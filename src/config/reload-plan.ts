// Compares the running config with a newly read one: which options changed, which of them a reload may not change, and what happens to the file's tenants.
import type { Config, TenantConfig } from './schema.js';
import { reloadMarkOf, type ReloadKind } from './reload-marks.js';

export interface ChangedOption {
  /** `proxyProtocol.trustedProxies`, `pool.maxClientConnections` (arrays compare whole). */
  path: string;
  kind: ReloadKind;
}

/**
 * What a reload would do. Tenants follow the file's own changes, so edits made through the admin API survive a reload
 * that does not touch that tenant in the file:
 * - `added`: ids new in the file; created in the store unless it already holds them (the same rule as seeding at start);
 * - `changed`: entries that differ from the running file's; written to the store (the file wins for that tenant);
 * - `dropped`: ids gone from the file; kept in the store (delete them through the admin API).
 */
export interface ReloadPlan {
  changed: ChangedOption[];
  /** Options whose change needs a restart: when any, the reload is refused and nothing changes. */
  refused: string[];
  tenants: { added: TenantConfig[]; changed: TenantConfig[]; dropped: string[] };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Leaf paths whose values differ; objects are walked, arrays and scalars compared whole. */
function diff(a: unknown, b: unknown, path: string, out: string[]): void {
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diff(a[k], b[k], path ? `${path}.${k}` : k, out);
    return;
  }
  if (!same(a, b)) out.push(path);
}

export function planReload(current: Config, next: Config): ReloadPlan {
  const paths: string[] = [];
  const { tenants: curTenants, ...curRest } = current;
  const { tenants: nextTenants, ...nextRest } = next;
  diff(curRest, nextRest, '', paths);

  const before = new Map(curTenants.map((t) => [t.id, t]));
  const after = new Set(nextTenants.map((t) => t.id));
  const tenants: ReloadPlan['tenants'] = { added: [], changed: [], dropped: [] };
  nextTenants.forEach((t, i) => {
    const old = before.get(t.id);
    if (old === undefined) {
      tenants.added.push(t);
      paths.push(`tenants[${i}]`);
    } else if (!same(old, t)) {
      tenants.changed.push(t);
      const fields: string[] = [];
      diff(old, t, `tenants[${i}]`, fields);
      paths.push(...fields);
    }
  });
  for (const id of before.keys()) if (!after.has(id)) tenants.dropped.push(id);

  // An option without a mark is treated as needing a restart: a new option must be marked before it can be reloaded.
  const changed = paths.map((path) => ({ path, kind: reloadMarkOf(path)?.kind ?? ('restart' as const) }));
  return { changed, refused: changed.filter((c) => c.kind === 'restart').map((c) => c.path), tenants };
}
