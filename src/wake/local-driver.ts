// A driver for development and the demo: "suspends" a local PostgreSQL by SIGSTOP to its postmaster and children, resumes it by SIGCONT.
import { PgporterError } from '../errors.js';
import type { MachineDriver, MachineState } from './driver.js';
import { childPids, processInfo, readPostmasterPid, signalAll } from './process-tree.js';

const POLL_MS = 20;

export class LocalDriverError extends PgporterError {
  constructor(message: string) {
    super('LOCAL_DRIVER_ERROR', 'local_driver', 'server', message);
    this.name = 'LocalDriverError';
  }
}

export class LocalDriver implements MachineDriver {
  constructor(readonly dataDir: string) {}

  describe(): string {
    return `local postgres (data directory ${this.dataDir})`;
  }

  /** The running postmaster's PID, or undefined when PostgreSQL is not running (no pid file, or a stale one). */
  private postmaster(): number | undefined {
    const pid = readPostmasterPid(this.dataDir);
    if (pid === undefined) return undefined;
    const info = processInfo(pid);
    return info && info.state !== 'Z' && info.state !== 'X' ? pid : undefined;
  }

  async getState(): Promise<MachineState> {
    const pid = this.postmaster();
    if (pid === undefined) return 'stopped';
    const state = processInfo(pid)?.state;
    if (state === undefined) return 'stopped';
    return state === 'T' || state === 't' ? 'suspended' : 'started';
  }

  /**
   * Stops the postmaster first so it forks nothing new, then every child; the children are listed twice because a
   * backend forked just before the postmaster stopped may not have appeared in the first listing.
   */
  async suspend(): Promise<void> {
    const pid = this.postmaster();
    if (pid === undefined) throw new LocalDriverError(`cannot suspend: no PostgreSQL running in ${this.dataDir}`);
    signalAll([pid], 'SIGSTOP');
    signalAll(childPids(pid), 'SIGSTOP');
    signalAll(childPids(pid), 'SIGSTOP');
  }

  /** Resumes the children, then the postmaster. A stopped PostgreSQL is not started: that needs pg_ctl and its own options. */
  async start(): Promise<void> {
    const pid = this.postmaster();
    if (pid === undefined) {
      throw new LocalDriverError(`PostgreSQL in ${this.dataDir} is stopped and the local driver cannot start it; start it with pg_ctl`);
    }
    signalAll(childPids(pid), 'SIGCONT');
    signalAll([pid], 'SIGCONT');
  }

  async waitFor(state: 'started' | 'suspended' | 'stopped', deadlineMs: number): Promise<void> {
    for (;;) {
      const now = await this.getState();
      if (now === state) return;
      if (state === 'started' && now === 'stopped') throw new LocalDriverError(`PostgreSQL in ${this.dataDir} stopped while waiting for it to start`);
      if (Date.now() >= deadlineMs) throw new LocalDriverError(`timed out waiting for state "${state}" (last seen: ${now})`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}
