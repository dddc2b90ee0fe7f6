// Measures what idle clients cost a pooler: N clients log in and sit idle; login rate, RSS per client and CPU per login over its process tree.
import { sleep, waitFor } from '../test/fixtures/ports.js';
import { sampleTree } from './proc-tree.js';
import { closeAll, loginMany } from './raw-clients.js';
import type { Target } from './targets.js';

export interface IdleOptions {
  clients: number;
  /** Logins in flight at once. */
  concurrency: number;
  /** Clients logged in and out first (warmUp). */
  warmup: number;
  /** Wait after the warm-up clients leave (pgporter keeps a closed client's objects up to 5 s: END_WAIT_MS). */
  warmupSettleMs: number;
  /** Wait after the last login before RSS is read. */
  settleMs: number;
}

export interface IdleResult {
  target: string;
  clients: number;
  /** Processes in the pooler's tree at the end (a supervisor and its workers). */
  processes: number;
  loginSeconds: number;
  loginsPerSecond: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerClientBytes: number;
  cpuMicrosPerLogin: number;
}

export const IDLE_DEFAULTS: IdleOptions = { clients: 10_000, concurrency: 200, warmup: 200, warmupSettleMs: 6000, settleMs: 2000 };

/**
 * Logs warm-up clients in and out and waits until the pooler has let go of them, so server connections, JIT and first
 * allocations are not counted as an idle client's. Wait `opts.warmupSettleMs` after this (once for several targets).
 */
export async function warmUp(target: Target, opts: IdleOptions): Promise<void> {
  const warm = await loginMany(target.port, opts.warmup, opts.concurrency);
  await closeAll(warm.sockets);
  if (!target.active) return;
  try {
    await waitFor(async () => (await target.active!()) === 0, `${target.label} to drop the warm-up clients`, 15_000, 100);
  } catch (err) {
    // A count that never reaches 0 (metrics not summed over workers, say) must not stop the measurement; the settle wait follows anyway.
    process.stderr.write(`warm-up: ${(err as Error).message}; going on\n`);
  }
}

/** Logs `opts.clients` idle clients into a warmed-up `target` (a pooler: it must have a poolerPid) and closes them again. */
export async function measureIdle(target: Target, opts: IdleOptions): Promise<IdleResult> {
  const root = target.poolerPid;
  if (root === undefined) throw new Error(`${target.label}: no pooler process to measure`);
  const before = sampleTree(root);
  const { sockets, seconds } = await loginMany(target.port, opts.clients, opts.concurrency);
  const cpuAfter = sampleTree(root).cpuMicros;
  await sleep(opts.settleMs);
  const after = sampleTree(root);
  await closeAll(sockets);
  return {
    target: target.label,
    clients: opts.clients,
    processes: after.pids,
    loginSeconds: seconds,
    loginsPerSecond: opts.clients / seconds,
    rssBeforeBytes: before.rssBytes,
    rssAfterBytes: after.rssBytes,
    rssPerClientBytes: (after.rssBytes - before.rssBytes) / opts.clients,
    cpuMicrosPerLogin: (cpuAfter - before.cpuMicros) / opts.clients,
  };
}
