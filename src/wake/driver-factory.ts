// Picks the driver for a tenant from its `fly` config: the Machines API for `driver: fly`, signals for `driver: local`.
import type { Config } from '../config/index.js';
import type { Logger } from '../observability/index.js';
import { FlyDriver, type MachineDriver } from './driver.js';
import { LocalDriver } from './local-driver.js';
import { MachinesApi } from './machines-api.js';
import type { WakeSubject } from './subject.js';

/** One API client for all tenants (it holds the token and the keep-alive pool); drivers are cheap views onto it. */
export function apiFromConfig(config: Config, logger?: Logger): MachinesApi {
  const fly = config.fly;
  return new MachinesApi({
    baseUrl: fly.apiBaseUrl,
    token: fly.token,
    requestTimeoutMs: fly.requestTimeout,
    retry: { maxAttempts: fly.retry.maxAttempts, baseDelayMs: fly.retry.baseDelay, maxDelayMs: fly.retry.maxDelay },
    onRetry: logger
      ? ({ action, attempt, delayMs, error }) => logger.debug({ action, attempt, delayMs, status: error.status, err: error.message }, 'retrying Machines API call')
      : undefined,
  });
}

/** The default `driverFor`: undefined for subjects without a `fly` block (nothing to wake). */
export function defaultDriverFor(config: Config, logger?: Logger): (subject: WakeSubject) => MachineDriver | undefined {
  let api: MachinesApi | undefined;
  return (tenant) => {
    const fly = tenant.fly;
    if (!fly) return undefined;
    if (fly.driver === 'local') return fly.dataDir ? new LocalDriver(fly.dataDir) : undefined;
    if (!fly.app || !fly.machineId) return undefined;
    api ??= apiFromConfig(config, logger);
    return new FlyDriver(api, fly.app, fly.machineId);
  };
}
