// Parses the CLI's `--upstreams` list: `[name=]host:port[@region][/primary|/replica][#app/machine[:suspendAfter]]`, comma-separated, IPv6 hosts in brackets.
import { usageError } from './admin-client.js';

export interface UpstreamEntryInput {
  host: string;
  port: number;
  name?: string;
  region?: string;
  role?: 'primary' | 'replica';
  /** The Fly machine running this server (woken for reads that need it, suspended after `suspendAfterIdle`). */
  fly?: { app: string; machineId: string; suspendAfterIdle?: string };
}

const FORM = '[name=]host:port[@region][/primary|/replica][#app/machine[:suspendAfter]]';

const SPEC = /^(?:([A-Za-z0-9][A-Za-z0-9_.:-]*)=)?(\[[0-9A-Fa-f:.]+\]|[^:@/[\]=]+):(\d{1,5})(?:@([a-z0-9]{2,8}))?(?:\/(primary|replica))?(?:#([a-z0-9][a-z0-9-]*)\/([A-Za-z0-9]+)(?::(\d+(?:ms|s|m|h)))?)?$/;

export function parseUpstreams(list: string): UpstreamEntryInput[] {
  const out: UpstreamEntryInput[] = [];
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = SPEC.exec(raw);
    if (!m) throw usageError(`--upstreams: "${raw}" is not ${FORM}`);
    const host = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
    const e: UpstreamEntryInput = { host, port: Number(m[3]) };
    if (m[1] !== undefined) e.name = m[1];
    if (m[4] !== undefined) e.region = m[4];
    if (m[5] !== undefined) e.role = m[5] as 'primary' | 'replica';
    if (m[6] !== undefined) e.fly = { app: m[6], machineId: m[7]!, ...(m[8] !== undefined ? { suspendAfterIdle: m[8] } : {}) };
    out.push(e);
  }
  if (!out.length) throw usageError('--upstreams: give at least one host:port');
  return out;
}
