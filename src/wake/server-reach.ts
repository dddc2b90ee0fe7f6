// The wake step as the serving layer sees it: make sure the tenant's machine is up, then open a server connection with retries while Postgres finishes waking.
import type { WakeSubject } from './subject.js';
import { connectWithRetry, isTransientConnectError } from './connect-retry.js';
import type { WakeManager } from './waker.js';

/** Whether an upstream failure may go away by itself in a moment (refused, reset, 57P03, starting up). */
function retryable(err: unknown): boolean {
  return isTransientConnectError(err) || (err as { transient?: boolean }).transient === true || isTransientConnectError((err as { cause?: unknown }).cause);
}

export interface ServerReach {
  beforeConnect(tenant: WakeSubject, notify: (message: string) => void): Promise<void>;
  connect<T>(tenant: WakeSubject, open: () => Promise<T>): Promise<T>;
}

/** Hooks for the serving layer: wake before connecting, retry until Postgres accepts, report readiness and failures to the wake manager. */
export function serverReach(wake: WakeManager, connectTimeoutMs: number): ServerReach {
  const wokeAt = new Map<string, number>();
  return {
    async beforeConnect(tenant, notify) {
      if (!tenant.fly) return;
      let woke = false;
      await wake.ensureAwake(tenant, () => {
        woke = true;
        notify(`waking up the database for ${describeSubject(tenant.id)}; this connection will continue when it is ready`);
      });
      if (woke) wokeAt.set(tenant.id, Date.now());
    },
    async connect(tenant, open) {
      try {
        const attempt = async () => {
          try {
            return await open();
          } catch (err) {
            // A machine suspended behind our back (someone else's suspend, a host event) looks like a dead server:
            // forget "started", ask the API again and wake it before the next attempt.
            if (tenant.fly && retryable(err)) {
              wake.markSuspect(tenant.id);
              await wake.ensureAwake(tenant);
            }
            throw err;
          }
        };
        const conn = await connectWithRetry(attempt, { deadlineMs: Date.now() + (tenant.fly ? Math.max(connectTimeoutMs, 10_000) : connectTimeoutMs), isRetryable: retryable });
        const t0 = wokeAt.get(tenant.id);
        if (t0 !== undefined) {
          wokeAt.delete(tenant.id);
          wake.observeReady(tenant.id, (Date.now() - t0) / 1000);
        }
        return conn;
      } catch (err) {
        // The machine may have been suspended behind our back: ask again next time rather than trusting "started".
        if (tenant.fly) wake.markSuspect(tenant.id);
        throw err;
      }
    },
  };
}

/** "tenant "acme"", or for one server of an `upstreams` list "tenant "acme" (upstream replica-fra)". */
function describeSubject(id: string): string {
  const slash = id.indexOf('/');
  return slash < 0 ? `tenant "${id}"` : `tenant "${id.slice(0, slash)}" (upstream ${id.slice(slash + 1)})`;
}
