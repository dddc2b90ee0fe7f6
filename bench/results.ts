// The shape of bench/results.json: settings, machine, every measured figure and the targets judged against them.
import type { AllowlistResult } from './allowlist-cost.js';
import type { IdleResult } from './idle-measure.js';
import type { Machine } from './machine.js';
import type { Cell } from './workloads.js';

export interface Settings {
  seconds: number;
  rounds: number;
  /** Unmeasured pgbench on every pooler before round 1 (each of two phases). */
  warmupSeconds: number;
  scale: number;
  pool: number;
  /** Workload ids run (BENCH_ONLY). */
  workloads: string[];
  idleClients: number;
  allowlistRules: number;
  /** Connections opened per end-to-end allowlist case. */
  allowlistConnections: number;
  /** true when any setting differs from the defaults: such a run is labelled short and its figures are not the ones to quote. */
  short: boolean;
}

/** One of issue 11's targets, measured. */
export interface Goal {
  /** e.g. `connect: CPU per -C transaction ≤ 1.5× PgBouncer's`. */
  goal: string;
  /** Which pgporter column. */
  target: string;
  /** pgporter / PgBouncer ratio, or bytes for the memory target; null when it could not be measured (see note). */
  measured: number | null;
  limit: number;
  /** How measured compares with limit: `max` (≤) or `min` (≥). */
  kind: 'max' | 'min';
  met: boolean | null;
  note?: string;
}

export interface BenchResults {
  date: string;
  wallSeconds: number;
  settings: Settings;
  machine: Machine;
  /** 1-minute load average when the run began and ended: other work on the machine shows here. */
  load: { start: number; end: number };
  workloads: Array<{ id: string; title: string; short: string }>;
  cells: Cell[];
  idle: IdleResult[];
  allowlist: AllowlistResult | null;
  goals: Goal[];
}
