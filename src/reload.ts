// Config reload for a running pgporter (SIGHUP, POST /v1/reload): the live settings the app reads through, and the reload that validates a file and swaps them without touching open connections.
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { ConfigError, planReload, type Config } from './config/index.js';
import { CidrSet } from './net/index.js';
import { setLogLevel, type Logger, type Metrics } from './observability/index.js';
import type { Store } from './store/index.js';

/** The TLS context of the front door, or undefined without tls.certFile/keyFile; throws when a file cannot be read or used. */
export function loadTls(config: Config): SecureContext | undefined {
  if (!config.tls.certFile || !config.tls.keyFile) return undefined;
  return createSecureContext({ cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) });
}

/**
 * What the running app reads through instead of a captured config: each field is replaced whole by a reload, and
 * whoever read the old value (a connection mid-startup, a pool) keeps a consistent one.
 */
export class LiveSettings {
  config: Config;
  secureContext: SecureContext | undefined;
  private trusted: CidrSet;

  constructor(config: Config) {
    this.config = config;
    this.secureContext = loadTls(config);
    this.trusted = new CidrSet(config.proxyProtocol.trustedProxies);
  }

  /** Whether `ip` is one of `proxyProtocol.trustedProxies` (a bound function: hand it out as is). */
  readonly isTrustedProxy = (ip: string): boolean => this.trusted.has(ip);

  swap(config: Config, secureContext: SecureContext | undefined, trusted: CidrSet): void {
    this.config = config;
    this.secureContext = secureContext;
    this.trusted = trusted;
  }
}

export type ReloadOutcome =
  | {
      result: 'ok';
      /** Option paths that changed (`tenants[1].pool.size`); empty when the file brought nothing new. */
      changed: string[];
      tenants: { created: string[]; updated: string[]; kept: string[]; dropped: string[] };
    }
  | {
      /** invalid: the file failed validation; refused: it changes options that need a restart; error: applying failed. */
      result: 'invalid' | 'refused' | 'error';
      message: string;
      /** The first key the message is about. */
      field?: string;
      issues?: Array<{ field: string; message: string }>;
    };

export interface ReloaderOptions {
  live: LiveSettings;
  /** Reads and validates the config file again; absent when pgporter was started without one (the demo, tests). */
  read?: () => Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
}

/** `tenants[0].pool.size: Too big` → field and message. */
function splitIssue(issue: string): { field: string; message: string } {
  const at = issue.indexOf(': ');
  return at < 0 ? { field: '(top level)', message: issue } : { field: issue.slice(0, at), message: issue.slice(at + 2) };
}

/** Re-reads the config file and applies what changed; one reload at a time, every outcome logged and counted. */
export class Reloader {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ReloaderOptions) {}

  reload(trigger: string): Promise<ReloadOutcome> {
    const run = this.chain.then(() => this.run());
    this.chain = run.catch(() => undefined);
    return run.then((outcome) => {
      this.report(trigger, outcome);
      return outcome;
    });
  }

  private async run(): Promise<ReloadOutcome> {
    const { live, store } = this.opts;
    if (!this.opts.read) return { result: 'refused', message: 'pgporter was started without a config file: there is nothing to reload' };
    let next: Config;
    try {
      next = this.opts.read();
    } catch (err) {
      if (!(err instanceof ConfigError)) return { result: 'error', message: `reading the config failed: ${(err as Error).message}` };
      const issues = err.issues.map(splitIssue);
      return { result: 'invalid', message: `${err.message}\nnothing was changed`, field: issues[0]?.field, issues };
    }
    // Everything that can fail is done before anything changes: the certificate is loaded here, not after the swap.
    let secureContext: SecureContext | undefined;
    try {
      secureContext = loadTls(next);
    } catch (err) {
      const message = `tls.certFile: cannot use the certificate and key (${next.tls.certFile}, ${next.tls.keyFile}): ${(err as Error).message}`;
      return { result: 'invalid', message: `${message}\nnothing was changed`, field: 'tls.certFile', issues: [splitIssue(message)] };
    }
    const plan = planReload(live.config, next);
    if (plan.refused.length > 0) {
      return {
        result: 'refused',
        message: `these options cannot change without a restart: ${plan.refused.join(', ')}; nothing was changed (restore them, or restart pgporter to apply the file)`,
        field: plan.refused[0],
        issues: plan.refused.map((field) => ({ field, message: 'needs a restart' })),
      };
    }
    // Tenants first: a store write can fail (Redis unreachable). Then the live settings stay as they were, and the
    // next reload diffs against the same running config and writes the same records again.
    const tenants = { created: [] as string[], updated: [] as string[], kept: [] as string[], dropped: plan.tenants.dropped };
    try {
      for (const t of plan.tenants.added) {
        if (store.getTenant(t.id)) tenants.kept.push(t.id);
        else {
          await store.putTenant(t);
          tenants.created.push(t.id);
        }
      }
      for (const t of plan.tenants.changed) {
        await store.putTenant(t);
        tenants.updated.push(t.id);
      }
    } catch (err) {
      const done = [...tenants.created, ...tenants.updated];
      return {
        result: 'error',
        message: `writing tenants to the store failed: ${(err as Error).message}; ${done.length ? `written: ${done.join(', ')}; ` : ''}no other setting was changed`,
      };
    }
    live.swap(next, secureContext, new CidrSet(next.proxyProtocol.trustedProxies));
    setLogLevel(this.opts.logger, next.log.level);
    return { result: 'ok', changed: plan.changed.map((c) => c.path), tenants };
  }

  private report(trigger: string, outcome: ReloadOutcome): void {
    const { logger, metrics } = this.opts;
    metrics.configReloads.inc({ result: outcome.result });
    if (outcome.result === 'ok') {
      logger.info({ event: 'config_reload', trigger, ...outcome }, outcome.changed.length ? 'config reloaded' : 'config reloaded: nothing changed');
    } else {
      logger.error({ event: 'config_reload', trigger, result: outcome.result, field: outcome.field, issues: outcome.issues }, `config reload ${outcome.result}: ${outcome.message}`);
    }
  }
}
