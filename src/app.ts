// The composition root: builds every area from the config and starts the listeners; the only file that knows them all.
import { createServer, type Server } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/index.js';
import { ClientError } from './errors.js';
import { CidrSet, normaliseIp } from './net/index.js';
import { createLogger, Metrics, startObservabilityServer, type Logger, type ObservabilityServer } from './observability/index.js';
import { SessionRelay, type Backend } from './pool/index.js';
import { handleConnection, SessionRegistry, type AccessCheck } from './proxy/index.js';
import { MemoryStore, type Store } from './store/index.js';
import { relayedCredentials } from './pool/relayed-auth.js';

export interface App {
  readonly port: number;
  readonly metricsPort: number | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly store: Store;
  close(): Promise<void>;
}

export interface AppOptions {
  logger?: Logger;
}

function loadTls(config: Config): SecureContext | undefined {
  if (!config.tls.certFile || !config.tls.keyFile) return undefined;
  return createSecureContext({ cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) });
}

export async function startApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const logger = opts.logger ?? createLogger(config.log.level);
  const metrics = new Metrics();
  const store: Store = new MemoryStore(config.tenants);
  await store.start();
  const sessions = new SessionRegistry();
  const access: AccessCheck = { check: () => undefined };
  const backend: Backend = new SessionRelay({
    connectTimeoutMs: config.upstream.connectTimeout,
    authenticatorFor: (s) => relayedCredentials(s),
  });
  const trusted = new CidrSet(config.proxyProtocol.trustedProxies);
  const secureContext = loadTls(config);
  const deps = {
    config,
    logger,
    metrics,
    tenants: store,
    access,
    backend,
    sessions,
    secureContext,
    isTrustedProxy: (ip: string) => trusted.has(ip),
  };

  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    void handleConnection(socket, deps);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let obs: ObservabilityServer | undefined;
  if (config.metrics.enabled) {
    obs = await startObservabilityServer(metrics, config.metrics.host, config.metrics.port, () => {
      const st = store.status();
      return { ok: st.loaded, detail: { store: store.kind, storeHealthy: st.healthy, sessions: sessions.count() } };
    });
  }
  logger.info({ event: 'listening', host: config.listen.host, port, metricsPort: obs?.port, proxyProtocol: config.proxyProtocol.mode, tls: !!secureContext, tenants: store.listTenants().length }, 'pgporter listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    metricsPort: obs?.port,
    logger,
    metrics,
    store,
    close: () =>
      (closing ??= (async () => {
        server.close();
        const bye = new ClientError('SHUTTING_DOWN', 'terminating connection due to administrator command');
        for (const s of sessions.all()) s.end(bye);
        await backend.close();
        await obs?.close();
        await store.close();
        logger.info({ event: 'stopped' }, 'pgporter stopped');
      })()),
  };
}

/** The canonical client address for a TCP peer (IPv4-mapped IPv6 becomes IPv4). */
export function peerIp(address: string | undefined): string {
  return (address && normaliseIp(address)) ?? address ?? '';
}
