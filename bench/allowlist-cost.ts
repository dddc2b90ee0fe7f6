// What an allowlist of 10,000 rules costs: CPU per check through the netrules API, and pooler CPU per refused or admitted connection end to end.
import { parseConfig } from '../src/config/index.js';
import { CidrSet } from '../src/net/index.js';
import { createAccessControl } from '../src/netrules/index.js';
import { createLogger, Metrics } from '../src/observability/index.js';
import { MemoryStore } from '../src/store/index.js';
import { cpuDuring } from './proc-tree.js';
import { attemptMany, closeAll } from './raw-clients.js';
import { startPgporter, type PoolerOptions } from './targets.js';

export interface CheckCost {
  family: 'IPv4' | 'IPv6';
  outcome: 'allowed' | 'refused';
  /** `AccessControl.check` (what a connection runs: normalise, look up, build the refusal) or `CidrSet.has` (the lookup alone). */
  via: 'AccessControl.check' | 'CidrSet.has';
  nsPerCheck: number;
}

export interface ConnectionCost {
  outcome: 'refused' | 'allowed';
  connections: number;
  /** pgporter's CPU (process tree) per connection, accept to close. */
  cpuMicrosPerConnection: number;
}

export interface AllowlistResult {
  rules: number;
  checks: CheckCost[];
  connections: ConnectionCost[];
}

/**
 * `n` rules, half IPv4 /25s and half IPv6 /48s, none adjacent so none merge: every rule stays a range of its own.
 * Loopback is not among them.
 */
export function makeRules(n: number): string[] {
  const half = Math.ceil(n / 2);
  const out: string[] = [];
  for (let i = 0; i < half; i++) out.push(`10.${(i >> 8) & 255}.${i & 255}.0/25`);
  for (let i = 0; out.length < n; i++) out.push(`2001:db8:${(2 * i).toString(16)}::/48`);
  return out;
}

/** Addresses spread over the rules: inside one (allowed) or in the gap right after it (refused). */
function addresses(n: number, family: 'IPv4' | 'IPv6', outcome: 'allowed' | 'refused'): string[] {
  const half = Math.ceil(n / 2);
  const out: string[] = [];
  for (let k = 0; k < 1000; k++) {
    const i = Math.floor((k * half) / 1000);
    if (family === 'IPv4') out.push(`10.${(i >> 8) & 255}.${i & 255}.${outcome === 'allowed' ? 7 : 200}`);
    else out.push(`2001:db8:${(2 * i + (outcome === 'allowed' ? 0 : 1)).toString(16)}::7`);
  }
  return out;
}

/**
 * CPU nanoseconds (this process, user + system) per call of `fn` over `ips`, after a warm-up so the JIT has settled;
 * batches run until `budgetMs` of CPU is spent, so a slow check is timed as long as a fast one and not longer.
 */
function cpuNsPer(ips: string[], budgetMs: number, fn: (ip: string) => unknown): number {
  let sink = 0;
  for (let i = 0; i < 20_000; i++) if (fn(ips[i % ips.length]!)) sink++;
  const t0 = process.cpuUsage();
  let calls = 0;
  let spent = 0;
  while (spent < budgetMs * 1000) {
    for (let i = 0; i < 10_000; i++) if (fn(ips[i % ips.length]!)) sink++;
    calls += 10_000;
    const d = process.cpuUsage(t0);
    spent = d.user + d.system;
  }
  if (sink < 0) throw new Error('unreachable');
  return (spent * 1000) / calls;
}

/** ns per check, allowed and refused, IPv4 and IPv6, through the access control pgporter runs and through the bare CidrSet. */
export function checkCosts(rules: string[], budgetMs: number): CheckCost[] {
  const tenant = parseConfig({ tenants: [{ id: 'bench', upstream: { host: '127.0.0.1' }, allowlist: rules }] }).tenants[0]!;
  const ac = createAccessControl({
    store: new MemoryStore([tenant]),
    defaultPolicy: 'allow',
    metrics: new Metrics({ defaultMetrics: false }),
    logger: createLogger('silent'),
    sessions: { sessionsOf: () => [] },
  });
  const set = new CidrSet(rules);
  const out: CheckCost[] = [];
  for (const family of ['IPv4', 'IPv6'] as const) {
    for (const outcome of ['allowed', 'refused'] as const) {
      const ips = addresses(rules.length, family, outcome);
      // Proves the addresses are what they claim before they are timed.
      const wrong = ips.find((ip) => (ac.check(tenant, ip) === undefined) !== (outcome === 'allowed'));
      if (wrong) throw new Error(`${wrong} is not ${outcome} by the bench rules`);
      out.push({ family, outcome, via: 'AccessControl.check', nsPerCheck: cpuNsPer(ips, budgetMs, (ip) => ac.check(tenant, ip)) });
      out.push({ family, outcome, via: 'CidrSet.has', nsPerCheck: cpuNsPer(ips, budgetMs, (ip) => set.has(ip)) });
    }
  }
  ac.close();
  return out;
}

/** pgporter (1 worker) with `rules` as the tenant's allowlist, plus loopback when `outcome` is allowed; CPU per connection. */
async function connectionCost(pooler: PoolerOptions, rules: string[], outcome: 'refused' | 'allowed', connections: number): Promise<ConnectionCost> {
  const allowlist = outcome === 'allowed' ? [...rules, '127.0.0.0/8'] : rules;
  const porter = await startPgporter({ ...pooler, workers: 1, proxyProtocol: 'off', allowlist });
  try {
    await attemptMany(porter.port, 50, 10).then(({ results }) => closeAll(results.flatMap((r) => (r.ok ? [r.socket] : []))));
    const { result, cpuMicros } = await cpuDuring([porter.poolerPid!], async () => {
      const { results } = await attemptMany(porter.port, connections, 10);
      await closeAll(results.flatMap((r) => (r.ok ? [r.socket] : [])));
      return results;
    });
    const expected = outcome === 'allowed';
    const odd = result.find((r) => r.ok !== expected || (!r.ok && !r.message.includes('no allowlist entry')));
    if (odd) throw new Error(`allowlist ${outcome}: unexpected ${odd.ok ? 'login' : odd.message}`);
    return { outcome, connections, cpuMicrosPerConnection: cpuMicros[0]! / connections };
  } finally {
    await porter.stop();
  }
}

/** Each check is timed for this much CPU. */
const CHECK_BUDGET_MS = 200;

export async function allowlistCost(pooler: PoolerOptions, rules: number, connections: number): Promise<AllowlistResult> {
  const list = makeRules(rules);
  const checks = checkCosts(list, CHECK_BUDGET_MS);
  const conns: ConnectionCost[] = [];
  if (connections > 0) {
    for (const outcome of ['refused', 'allowed'] as const) conns.push(await connectionCost(pooler, list, outcome, connections));
  }
  return { rules, checks, connections: conns };
}
