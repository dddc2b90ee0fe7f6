// The prom-client registry and pgporter's metric definitions; one instance per process, passed to the areas that count.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** Metrics shared by the front door; other areas register theirs on `registry`. */
export class Metrics {
  readonly registry: Registry;
  readonly connectionsAccepted: Counter<'tenant'>;
  readonly connectionsRefused: Counter<'reason' | 'tenant'>;
  readonly connectionsActive: Gauge<'tenant'>;
  readonly bytesFromClient: Counter<'tenant'>;
  readonly bytesToClient: Counter<'tenant'>;
  readonly proxyHeaders: Counter<'version' | 'family'>;
  readonly configReloads: Counter<'result'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'pgporter_' });
    const registers = [this.registry];
    this.connectionsAccepted = new Counter({
      name: 'pgporter_connections_accepted_total',
      help: 'Client connections that completed startup and were admitted, by tenant',
      labelNames: ['tenant'],
      registers,
    });
    this.connectionsRefused = new Counter({
      name: 'pgporter_connections_refused_total',
      help: 'Client connections refused, by reason (error kind) and tenant ("" when not yet known)',
      labelNames: ['reason', 'tenant'],
      registers,
    });
    this.connectionsActive = new Gauge({
      name: 'pgporter_connections_active',
      help: 'Client connections currently relaying, by tenant',
      labelNames: ['tenant'],
      registers,
    });
    this.bytesFromClient = new Counter({
      name: 'pgporter_client_received_bytes_total',
      help: 'Bytes received from clients after startup, by tenant',
      labelNames: ['tenant'],
      registers,
    });
    this.proxyHeaders = new Counter({
      name: 'pgporter_proxy_headers_total',
      help: 'PROXY protocol headers honoured, by version (1, 2) and the address family of the client they announced (inet, inet6, unix, unspec, local)',
      labelNames: ['version', 'family'],
      registers,
    });
    this.configReloads = new Counter({
      name: 'pgporter_config_reloads_total',
      help: 'Config reloads (SIGHUP, POST /v1/reload), by result: ok, invalid (the file failed validation), refused (it changes an option that needs a restart), error (applying failed)',
      labelNames: ['result'],
      registers,
    });
    for (const result of ['ok', 'invalid', 'refused', 'error']) this.configReloads.inc({ result }, 0);
    this.bytesToClient = new Counter({
      name: 'pgporter_client_sent_bytes_total',
      help: 'Bytes sent to clients after startup, by tenant',
      labelNames: ['tenant'],
      registers,
    });
  }
}
