// The observability HTTP listener: /metrics for Prometheus and /healthz for Fly's health checks.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What /metrics renders: this process's registry, or (several workers) the supervisor's merge of every process's. */
export interface MetricsSource {
  readonly registry: { readonly contentType: string; metrics(): Promise<string> };
}

export interface ObservabilityServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startObservabilityServer(
  metrics: MetricsSource,
  host: string,
  port: number,
  health: () => { ok: boolean; detail?: Record<string, unknown> },
): Promise<ObservabilityServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
      );
      return;
    }
    if (path === '/healthz') {
      const h = health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: h.ok, ...h.detail }));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
