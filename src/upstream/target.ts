// Where a tenant's PostgreSQL listens and how pgporter reaches it: the one description every server-side connection (pool, authQuery, cancel) starts from.

export interface UpstreamTarget {
  host: string;
  port: number;
  /** disable: plain TCP; require: TLS without checking the certificate; verify-full: TLS, certificate and host name checked. */
  tls: 'disable' | 'require' | 'verify-full';
  /** CA bundle (PEM) for verify-full; the system CAs when absent. */
  caFile?: string | undefined;
}

/** The target of a tenant's upstream settings (the config shape, where tls defaults to disable). */
export function upstreamTarget(u: { host: string; port: number; tls?: UpstreamTarget['tls'] | undefined; caFile?: string | undefined }): UpstreamTarget {
  return { host: u.host, port: u.port, tls: u.tls ?? 'disable', ...(u.caFile !== undefined ? { caFile: u.caFile } : {}) };
}
