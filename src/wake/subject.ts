// What has a machine to wake, and the name the fleet knows that machine by.
import type { FlyTenantConfig } from '../config/index.js';

/**
 * What has a machine to wake: a tenant with a `fly` block (its id), or one upstream of a tenant's `upstreams` list with
 * its own (`tenant/upstream`, src/upstream/list.ts machineOf). A TenantRecord is one.
 */
export interface WakeSubject {
  readonly id: string;
  readonly fly?: FlyTenantConfig | undefined;
}

/** The fleet's name for a subject's machine. */
export function machineName(fly: WakeSubject['fly']): string {
  if (fly === undefined) return '';
  return fly.driver === 'local' ? `local:${fly.dataDir ?? ''}` : `${fly.app ?? ''}/${fly.machineId ?? ''}`;
}

