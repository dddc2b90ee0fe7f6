// The prom-client registry and pgporter's metric definitions; one instance per process, passed to the areas that count.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { fieldCounter } from './field-counter.js';

/**
 * One tenant's connection figures as plain numbers: the connection path bumps a field (prom-client would hash the
 * labels on every call) and the counters and gauge below read them when scraped.
 */
export class TenantConnections {
  accepted = 0;
  active = 0;
  bytesFromClient = 0;
  bytesToClient = 0;
}


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
  private readonly perTenant = new Map<string, TenantConnections>();

  /** The plain counters of a tenant, made once and kept (one per tenant ever seen: bounded by the tenants). */
  tenant(id: string): TenantConnections {
    let t = this.perTenant.get(id);
    if (t === undefined) this.perTenant.set(id, (t = new TenantConnections()));
    return t;
  }

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'pgporter_' });
    const registers = [this.registry];
    const perTenant = this.perTenant;
    // Counters are fed the difference since the last scrape from the plain fields.
    const counter = (name: string, help: string, key: 'accepted' | 'bytesFromClient' | 'bytesToClient') => fieldCounter(this.registry, name, help, () => perTenant, key);
    this.connectionsAccepted = counter('pgporter_connections_accepted_total', 'Client connections that completed startup and were admitted, by tenant', 'accepted');
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
      collect() {
        for (const [tenant, t] of perTenant) this.set({ tenant }, t.active);
      },
    });
    this.bytesFromClient = counter('pgporter_client_received_bytes_total', 'Bytes received from clients after startup, by tenant', 'bytesFromClient');
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
    this.bytesToClient = counter('pgporter_client_sent_bytes_total', 'Bytes sent to clients after startup, by tenant', 'bytesToClient');
  }
}
