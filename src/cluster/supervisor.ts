// The supervisor of a node with several worker processes: forks and restarts the workers, and owns the node-level state (store, fleet, bans, admin API, metrics, reload, drain, server permits, client counts).
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.js';
import { createFleet, registerFleetMetrics, type Fleet } from '../fleet/index.js';
import { BanList } from '../netrules/index.js';
import { createLogger, Metrics, startObservabilityServer, type Logger, type ObservabilityServer } from '../observability/index.js';
import { LiveSettings, Reloader, type ReloadOutcome } from '../reload.js';
import { createStore, type Store } from '../store/index.js';
import { FleetHub } from './fleet-hub.js';
import { Endpoint } from './ipc.js';
import { mergeMetrics } from './metrics-merge.js';
import { PermitBroker } from './permit-broker.js';
import type { PoolFactsMessage, SupervisorSide, WorkerSide } from './protocol.js';
import { startSupervisorAdmin, type SupervisorAdmin } from './supervisor-admin.js';

export interface SupervisorOptions {
  logger?: Logger;
  /** Reads and validates the config file again, for reloads. */
  readConfig?: () => Config;
}

/** What the CLI drives, as for a single process (src/app.ts). */
export interface Supervisor {
  readonly port: number;
  readonly metricsPort: number | undefined;
  readonly adminPort: number | undefined;
  readonly logger: Logger;
  readonly stopRequested: Promise<string>;
  reload(trigger: string): Promise<ReloadOutcome>;
  close(): Promise<void>;
}

interface Slot {
  index: number;
  worker: Worker;
  ipc: Endpoint<SupervisorSide, WorkerSide>;
  ready: boolean;
  startedAt: number;
}

/** How often the workers hear the other workers' client counts, the fleet's health and the store's status. */
const PEERS_INTERVAL_MS = 500;
/** How often the supervisor looks for a change of the store's or the fleet's health to pass on at once. */
const STATUS_WATCH_MS = 50;
/** Restart backoff: doubles per quick death, from the first to the last, and starts over after a worker lived a while. */
const RESTART_FIRST_MS = 100;
const RESTART_MAX_MS = 5000;
const LIVED_LONG_MS = 10_000;
/** How long start-up waits for every worker to listen. */
const START_TIMEOUT_MS = 30_000;


export async function startSupervisor(config: Config, count: number, opts: SupervisorOptions = {}): Promise<Supervisor> {
  const logger = opts.logger ?? createLogger(config.log.level);
  const log = logger.child({ component: 'supervisor' });
  const metrics = new Metrics();
  const live = new LiveSettings(config);
  const store: Store = createStore(config, logger, metrics);
  const fleet: Fleet = createFleet(config, logger);
  registerFleetMetrics(metrics.registry, fleet);
  const bans = new BanList({ config, logger, metrics, isTrustedProxy: live.isTrustedProxy });
  // Started once every worker has loaded its code and asks for its state, so the store's clocks (restoreGrace, the
  // first sync) start as close to listening as in a single process; loading the code is most of a worker's start.
  let allAsked!: () => void;
  let asked = 0;
  const nodeReady = new Promise<void>((resolve) => (allAsked = resolve)).then(async () => {
    await store.start();
    await fleet.start();
    await bans.start();
  });
  const reloader = new Reloader({ live, ...(opts.readConfig ? { read: opts.readConfig } : {}), store, logger, metrics });

  const slots = new Map<number, Slot>();
  let draining = false;
  let closing: Promise<void> | undefined;
  let requestStop!: (reason: string) => void;
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  const alive = () => [...slots.values()].filter((s) => s.ready).map((s) => s.index);
  const each = <T>(fn: (s: Slot) => Promise<T>) => Promise.all([...slots.values()].filter((s) => s.ready).map(fn));

  const hub = new FleetHub(
    fleet,
    {
      workers: alive,
      cancel: (w, c) => slots.get(w)?.ipc.emit('cancel', c),
      machine: (w, e) => slots.get(w)?.ipc.emit('machine', e),
    },
    log,
  );
  const broker = new PermitBroker({
    grant: (w, key, n) => {
      const s = slots.get(w);
      if (s) s.ipc.emit('permitGrant', { key, n });
      else broker.release(w, key, n);
    },
    handOver: (w, key, n, mode) => slots.get(w)?.ipc.emit('permitHandOver', { key, n, mode }),
  });

  // Tenants whose clients on other nodes count (maxClientConnectionsFleet): asking the fleet keeps it counting them.
  const fleetWatched = () => store.listTenants().filter((t) => t.pool.maxClientConnectionsFleet !== undefined).map((t) => t.id);
  // What each worker was last told, so that a count change is sent only to the workers whose view it changes (not the
  // one that reported it): a message fewer per login and per logout for each worker.
  const lastPeers = new Map<Slot, string>();
  const sendPeers = (onlyChanged = false) => {
    const healthy = fleet.healthy();
    const storeStatus = store.status();
    const watched = fleetWatched();
    for (const s of slots.values()) {
      const peers = { ...hub.peersOf(s.index, watched), healthy, storeStatus };
      const said = JSON.stringify(peers);
      if (onlyChanged && lastPeers.get(s) === said) continue;
      lastPeers.set(s, said);
      s.ipc.emit('peers', peers);
    }
  };
  let peersQueued = false;
  const peersSoon = () => {
    if (peersQueued) return;
    peersQueued = true;
    setImmediate(() => {
      peersQueued = false;
      sendPeers(true);
    });
  };
  let lastBans = '';
  const sendBans = (force = false) => {
    const list = bans.active();
    const json = JSON.stringify(list);
    if (!force && json === lastBans) return;
    lastBans = json;
    for (const s of slots.values()) s.ipc.emit('bans', { list });
  };
  const ticker = setInterval(() => {
    sendPeers();
    sendBans();
  }, PEERS_INTERVAL_MS);
  ticker.unref();
  // The store's health and first load decide admissions (08004 until loaded): workers hear of a change within 50 ms.
  let lastStatus = '';
  const statusWatch = setInterval(() => {
    const st = store.status();
    const now = `${st.loaded}/${st.healthy}/${st.version}/${fleet.healthy()}`;
    if (now === lastStatus) return;
    lastStatus = now;
    sendPeers();
  }, STATUS_WATCH_MS);
  statusWatch.unref();

  store.onChange((e) => {
    for (const s of slots.values()) {
      if (e.type === 'tenant-upserted') s.ipc.emit('storeUpsert', { tenant: e.tenant });
      else s.ipc.emit('storeDelete', { id: e.id });
    }
  });

  const reload = async (trigger: string): Promise<ReloadOutcome> => {
    const outcome = await reloader.reload(trigger);
    if (outcome.result === 'ok') for (const s of slots.values()) s.ipc.emit('config', { config: live.config });
    return outcome;
  };
  const pauseAll = async (tenant: string | undefined) => {
    await each((s) => s.ipc.request('pause', { tenant }, 600_000));
  };
  const resumeAll = async (tenant: string | undefined) => {
    await each((s) => s.ipc.request('resume', { tenant }));
  };

  // What pools learned on one worker (server defaults, accepted settings), for the others and for restarted workers.
  const facts = new Map<string, { defaults?: Array<[string, string]>; settings: Set<string> }>();
  const learn = (from: number, f: PoolFactsMessage) => {
    for (const s of slots.values()) if (s.index !== from) s.ipc.emit('facts', f);
    if (f.forget) {
      facts.delete(f.key);
      return;
    }
    let k = facts.get(f.key);
    if (!k) facts.set(f.key, (k = { settings: new Set() }));
    if (f.defaults && !k.defaults) k.defaults = f.defaults;
    for (const s of f.settings ?? []) {
      if (k.settings.size >= 10_000) k.settings.clear();
      k.settings.add(s);
    }
  };
  const allFacts = (): PoolFactsMessage[] => [...facts].map(([key, k]) => ({ key, ...(k.defaults ? { defaults: k.defaults } : {}), settings: [...k.settings] }));

  // --- workers ---

  // kernel (SCHED_NONE): workers accept from the shared socket themselves, so a connection costs the supervisor
  // nothing; round-robin (SCHED_RR) has it accept every socket and pass it over IPC (docs/internals.md, Workers).
  cluster.schedulingPolicy = config.workerScheduling === 'round-robin' ? cluster.SCHED_RR : cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)), args: [] });
  const failures = new Map<number, number>();
  let onFirstReady: ((port: number) => void) | undefined;
  let onStartFailed: ((err: Error) => void) | undefined;
  let started = false;
  let port = 0;

  const fork = (index: number) => {
    const worker = cluster.fork({ PGPORTER_WORKER: String(index) });
    const ipc = new Endpoint<SupervisorSide, WorkerSide>(worker, (op, err) => log.error({ err, op, worker: index }, 'IPC handler failed'));
    const slot: Slot = { index, worker, ipc, ready: false, startedAt: Date.now() };
    slots.set(index, slot);
    ipc.handle('init', async () => {
      if (++asked === count) allAsked();
      await nodeReady;
      return {
        config: live.config,
        index,
        workers: count,
        nodeId: fleet.nodeId,
        slot: fleet.slot,
        shared: fleet.shared,
        tenants: store.listTenants(),
        storeStatus: store.status(),
        bans: bans.active(),
        facts: allFacts(),
      };
    });
    ipc.handle('lock', ({ name, ttlMs }) => hub.lock(index, name, ttlMs));
    ipc.handle('idleEverywhere', ({ tenant, idleMs }) => hub.idleEverywhere(tenant, idleMs));
    ipc.handle('nodes', () => fleet.nodes());
    ipc.handle('forwardCancel', ({ slot: to, pid, secret, clientIp }) => hub.forwardCancel(index, to, { pid, secret, clientIp }));
    ipc.handle('reload', ({ trigger }) => reload(trigger));
    ipc.handle('pause', async ({ tenant }) => {
      await pauseAll(tenant);
      return null;
    });
    ipc.handle('resume', async ({ tenant }) => {
      await resumeAll(tenant);
      return null;
    });
    ipc.handle('recordFailure', async ({ tenant, address, policy }) => {
      const out = await bans.countForWorker(tenant, address, policy);
      if (out.kind !== 'counted') sendBans(true);
      return out;
    });
    ipc.on('ready', ({ port: p }) => {
      slot.ready = true;
      port = p;
      sendPeers();
      log.info({ event: 'worker_ready', worker: index, pid: worker.process.pid }, 'worker ready');
      if (!started && alive().length === count) onFirstReady?.(p);
    });
    ipc.on('unlock', ({ name, token }) => hub.unlock(name, token));
    ipc.on('announceMachine', ({ machine, state }) => hub.announceMachine(index, machine, state));
    ipc.on('clients', ({ counts, activity }) => {
      if (activity) hub.reportActivity(index, activity);
      if (!counts) return;
      hub.reportCounts(index, counts);
      // Once per supervisor tick, however many workers reported in it: the other workers' admissions read these sums.
      peersSoon();
    });
    ipc.on('permitRequest', ({ key, size, n }) => broker.request(index, key, size, n));
    ipc.on('permitRelease', ({ key, n }) => broker.release(index, key, n));
    ipc.on('permitWithdraw', ({ key }) => broker.withdraw(index, key));
    ipc.on('stop', ({ reason }) => requestStop(reason));
    ipc.on('facts', (f) => learn(index, f));
    worker.on('exit', (code, signal) => {
      ipc.close();
      if (slots.get(index) === slot) slots.delete(index);
      lastPeers.delete(slot);
      // Its permits, counts, locks and activity are free at once.
      broker.dropWorker(index);
      hub.dropWorker(index);
      sendPeers();
      if (!started) {
        onStartFailed?.(new Error(`worker ${index} exited during start-up (code ${code}, signal ${signal})`));
        return;
      }
      if (draining) return;
      const lived = Date.now() - slot.startedAt;
      const n = lived > LIVED_LONG_MS ? 0 : (failures.get(index) ?? 0);
      failures.set(index, n + 1);
      const delay = Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** n);
      log.error({ event: 'worker_exit', worker: index, pid: worker.process.pid, code, signal, restartInMs: delay }, `worker ${index} exited; restarting it`);
      setTimeout(() => {
        if (!draining && !slots.has(index)) fork(index);
      }, delay).unref();
    });
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`workers did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      onFirstReady = () => {
        clearTimeout(timer);
        resolve();
      };
      onStartFailed = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      for (let i = 0; i < count; i++) fork(i);
    });
  } catch (err) {
    draining = true;
    for (const s of slots.values()) s.worker.kill('SIGKILL');
    await Promise.allSettled([bans.close(), fleet.close(), store.close()]);
    throw err;
  }
  started = true;

  let obs: ObservabilityServer | undefined;
  if (config.metrics.enabled) {
    const source = {
      registry: {
        contentType: metrics.registry.contentType,
        async metrics(): Promise<string> {
          const own = await metrics.registry.getMetricsAsJSON();
          const theirs = await each((s) => s.ipc.request('metrics', {}).catch(() => [] as unknown[]));
          return mergeMetrics([own as unknown[], ...theirs]).metrics();
        },
      },
    };
    obs = await startObservabilityServer(source, config.metrics.host, config.metrics.port, () => {
      const st = store.status();
      const workers = alive().length;
      return { ok: st.loaded && !draining && workers > 0, detail: { store: store.kind, storeHealthy: st.healthy, workers, draining } };
    });
  }
  let admin: SupervisorAdmin | undefined;
  if (config.admin.enabled && config.admin.tokens.length === 0) {
    log.warn({ event: 'admin_disabled' }, 'admin API not started: admin.tokens is empty, so it could refuse every request only');
  } else if (config.admin.enabled) {
    admin = await startSupervisorAdmin({
      config,
      store,
      logger,
      fleet,
      bans,
      afterBanChange: () => sendBans(true),
      reload,
      drain: (reason) => requestStop(reason),
      pause: pauseAll,
      resume: resumeAll,
      pools: async () => (await each((s) => s.ipc.request('pools', {}).catch(() => []))).flat(),
      upstreams: async () => (await each((s) => s.ipc.request('upstreams', {}).catch(() => []))).flat(),
    });
  }
  logger.info(
    { event: 'listening', host: config.listen.host, port, metricsPort: obs?.port, adminPort: admin?.port, proxyProtocol: config.proxyProtocol.mode, tls: !!live.secureContext, tenants: store.listTenants().length, workers: count },
    'pgporter listening',
  );

  return {
    port,
    metricsPort: obs?.port,
    adminPort: admin?.port,
    logger,
    stopRequested,
    reload,
    close: () =>
      (closing ??= (async () => {
        draining = true;
        log.info({ event: 'draining', workers: alive().length, timeoutMs: live.config.shutdown.timeout }, 'draining: every worker drains, then the node stops');
        const exited = [...slots.values()].map((s) => new Promise<void>((resolve) => (s.worker.isDead() ? resolve() : s.worker.once('exit', () => resolve()))));
        for (const s of slots.values()) void s.ipc.request('drain', { reason: 'node drain' }, live.config.shutdown.timeout + 10_000).catch(() => s.worker.kill('SIGKILL'));
        await Promise.all(exited);
        clearInterval(ticker);
        clearInterval(statusWatch);
        broker.close();
        await admin?.close();
        await fleet.close();
        await bans.close();
        await obs?.close();
        await store.close();
        logger.info({ event: 'stopped' }, 'pgporter stopped');
      })()),
  };
}
