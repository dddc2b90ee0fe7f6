// How many worker processes `workers` means on this machine.
import type { Config } from '../config/index.js';

/** `auto`: one per core, at most 8 (cancel keys carry 3 worker bits); otherwise the number given. */
export function workerCount(config: Pick<Config, 'workers'>, cores: () => number): number {
  return config.workers === 'auto' ? Math.max(1, Math.min(8, cores())) : config.workers;
}
