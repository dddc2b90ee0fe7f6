// The seam between the wake logic and whatever runs the database: the driver interface, machine states, and the Fly driver.
import type { MachinesApi } from './machines-api.js';
import { FlyApiError } from './fly-error.js';

/** Fly Machine states (https://fly.io/docs/machines/machine-states/); other drivers map onto the same names. */
export type MachineState =
  | 'created'
  | 'started'
  | 'stopped'
  | 'suspended'
  | 'failed'
  | 'creating'
  | 'starting'
  | 'stopping'
  | 'restarting'
  | 'suspending'
  | 'destroying'
  | 'updating'
  | 'replacing'
  | 'destroyed'
  | 'replaced'
  | 'migrated';

/** States from which the machine will never become `started` by itself or by a start call. */
export const HOPELESS_STATES: ReadonlySet<string> = new Set(['failed', 'destroying', 'destroyed', 'replaced', 'migrated']);

export interface MachineDriver {
  /** Names the machine in messages, e.g. "machine 3d8d… (app acme-db)". */
  describe(): string;
  getState(signal?: AbortSignal): Promise<MachineState>;
  /** Asks the machine to start (resume from a suspend, boot from stopped). `deadlineMs` (epoch ms) bounds retries. */
  start(deadlineMs?: number): Promise<void>;
  /** Resolves once the machine is in `state`; rejects when `deadlineMs` (epoch ms, as Date.now()) passes first. */
  waitFor(state: 'started' | 'suspended' | 'stopped', deadlineMs: number): Promise<void>;
  suspend(deadlineMs?: number): Promise<void>;
}

/** A Fly Machine driven through the Machines API. */
export class FlyDriver implements MachineDriver {
  /** Longest single wait request, s: between waits the state is read, so a machine that failed is noticed this soon. */
  private readonly waitSliceSeconds: number;

  constructor(
    private readonly api: MachinesApi,
    readonly app: string,
    readonly machineId: string,
    opts: { waitSliceSeconds?: number } = {},
  ) {
    this.waitSliceSeconds = Math.min(60, Math.max(1, Math.floor(opts.waitSliceSeconds ?? 10)));
  }

  describe(): string {
    return `machine ${this.machineId} (app ${this.app})`;
  }

  async getState(signal?: AbortSignal): Promise<MachineState> {
    const m = await this.api.getMachine(this.app, this.machineId, signal ? { signal } : {});
    return m.state as MachineState;
  }

  async start(deadlineMs?: number): Promise<void> {
    await this.api.start(this.app, this.machineId, deadlineMs === undefined ? {} : { deadlineMs });
  }

  async suspend(deadlineMs?: number): Promise<void> {
    await this.api.suspend(this.app, this.machineId, deadlineMs === undefined ? {} : { deadlineMs });
  }

  /**
   * Loops the API's wait (waitSliceSeconds per request) until the state is reached or the deadline passes. After each
   * 408 it reads the state, so a machine that failed or was destroyed ends the wait early rather than at the deadline.
   */
  async waitFor(state: 'started' | 'suspended' | 'stopped', deadlineMs: number): Promise<void> {
    let last: string | undefined;
    for (;;) {
      const remaining = deadlineMs - Date.now();
      if (remaining <= 0) break;
      // Ask the server to give up at least half a second before our deadline, so its 408 arrives before our own timeout.
      const seconds = Math.min(this.waitSliceSeconds, Math.max(1, Math.floor((remaining - 500) / 1000)));
      let reached: boolean;
      try {
        reached = await this.api.wait(this.app, this.machineId, state, seconds, { deadlineMs });
      } catch (err) {
        if (Date.now() >= deadlineMs && err instanceof FlyApiError && err.status === undefined) break;
        throw err;
      }
      if (reached) return;
      if (Date.now() >= deadlineMs) break;
      last = (await this.api.getMachine(this.app, this.machineId, { deadlineMs })).state;
      if (last === state) return;
      if (HOPELESS_STATES.has(last)) throw new FlyApiError('wait', undefined, '', `machine is ${last}`, { code: 'FLY_MACHINE_UNAVAILABLE', kind: 'fly_machine_unavailable' });
    }
    throw new FlyApiError('wait', undefined, '', `timed out waiting for state "${state}"${last ? ` (last seen: ${last})` : ''}`, { code: 'FLY_WAIT_TIMEOUT', kind: 'fly_wait_timeout' });
  }
}
