// One worker process: the connection-level app (listener, front door, sessions, pools, cancel keys, auth cache) built on the seams its supervisor answers over IPC.
import type { Server } from 'node:net';
import { startApp, type App, type WorkerSeams } from '../app.js';
import { createLogger, type Logger } from '../observability/index.js';
import { ClientReport } from './client-report.js';
import { Endpoint, type Channel } from './ipc.js';
import type { SupervisorSide, WorkerSide } from './protocol.js';
import { WorkerBanBackend } from './worker-bans.js';
import { WorkerFleet } from './worker-fleet.js';
import { WorkerFacts, WorkerPermits, WorkerPeers } from './worker-permits.js';
import { WorkerStore } from './worker-store.js';
import { hasReusePort } from './reuse-port.js';


/** Runs until the supervisor asks for a drain (exit 0) or disappears (exit at once: no worker outlives it). */
export async function runWorker(index: number): Promise<void> {
  const ipc = new Endpoint<WorkerSide, SupervisorSide>(process as unknown as Channel, (op, err) => logger?.error({ err, op }, 'IPC handler failed'));
  let logger: Logger | undefined;
  let app: App | undefined;
  // A supervisor that is gone (SIGKILL, crash) takes its workers with it: nothing would hand out permits any more.
  process.on('disconnect', () => {
    logger?.warn({ event: 'supervisor_gone', worker: index }, 'supervisor gone: worker exiting');
    process.exit(1);
  });
  // The supervisor handles the signals a terminal sends to the whole group; a SIGTERM sent to this worker alone drains it.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.on('SIGTERM', () => void drainAndExit('SIGTERM'));

  const init = await ipc.request('init', { index }, 30_000);
  const config = init.config;
  logger = createLogger(config.log.level).child({ worker: index });
  const log = logger;
  const store = new WorkerStore(ipc, config.store.kind, init.tenants, init.storeStatus, (err) => log.error({ err }, 'store change listener failed'));
  const report = new ClientReport(ipc);
  const seams: WorkerSeams = {
    index,
    count: init.workers,
    store,
    fleet: new WorkerFleet(ipc, report, init.nodeId, init.slot, init.shared),
    banBackend: new WorkerBanBackend(ipc, config.store.kind === 'redis' ? 'redis' : 'memory', init.bans),
    permits: new WorkerPermits(ipc),
    peers: new WorkerPeers(ipc, report),
    facts: new WorkerFacts(ipc, init.facts),
    reload: (trigger) => ipc.request('reload', { trigger }, 60_000),
    pause: async (tenant) => {
      await ipc.request('pause', { tenant }, 600_000);
    },
    resume: async (tenant) => {
      await ipc.request('resume', { tenant });
    },
    stop: (reason) => ipc.emit('stop', { reason }),
    listen: (server, host, port) => listen(server, host, port),
  };
  app = await startApp(config, { logger: log, worker: seams });
  const running = app;

  const tenantIds = (tenant: string | undefined) => (tenant !== undefined ? [tenant] : store.listTenants().map((t) => t.id));
  ipc.handle('metrics', async () => (await running.metrics.registry.getMetricsAsJSON()) as unknown[]);
  ipc.handle('pools', () => running.pools.poolsSnapshot());
  ipc.handle('upstreams', () => running.pools.upstreamsSnapshot());
  ipc.handle('pause', async ({ tenant }) => {
    await Promise.all(tenantIds(tenant).map((id) => running.pools.pause(id)));
    return null;
  });
  ipc.handle('resume', ({ tenant }) => {
    for (const id of tenantIds(tenant)) running.pools.resume(id);
    return null;
  });
  ipc.handle('drain', async ({ reason }) => {
    log.info({ event: 'worker_drain', worker: index, reason }, 'worker draining');
    await running.close();
    setImmediate(() => process.exit(0));
    return null;
  });
  ipc.on('config', ({ config: next }) => running.applyConfig(next));
  ipc.emit('ready', { port: running.port });

  let draining: Promise<void> | undefined;
  async function drainAndExit(reason: string): Promise<void> {
    draining ??= (async () => {
      logger?.info({ event: 'worker_drain', worker: index, reason }, 'worker draining');
      await app?.close();
      process.exit(0);
    })();
    return draining;
  }
}

/** The shared listener: cluster's round-robin handle, or with reusePort a socket of this worker's own on the same port. */
function listen(server: Server, host: string, port: number): Promise<void> {
  const reuse = hasReusePort() && port !== 0;
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ...(reuse ? { reusePort: true, exclusive: true } : {}) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
