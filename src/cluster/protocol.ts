// What the supervisor and its workers say to each other: every request with its answer, every event, in one place.
import type { Config } from '../config/index.js';
import type { NodeInfo, TenantActivity } from '../fleet/index.js';
import type { BanEntry, BanPolicy, FailureOutcome } from '../netrules/index.js';
import type { PoolSnapshot } from '../pool/index.js';
import type { ReloadOutcome } from '../reload.js';
import type { StoreStatus, TenantRecord } from '../store/index.js';
import type { UpstreamStatus } from '../upstream/index.js';

/** What a worker needs to start, sent once it asks: config, identity in the node and fleet, and the store's content. */
export interface WorkerInit {
  config: Config;
  index: number;
  /** How many workers the node runs. */
  workers: number;
  nodeId: string;
  slot: number;
  shared: boolean;
  tenants: TenantRecord[];
  storeStatus: StoreStatus;
  bans: BanEntry[];
  facts: PoolFactsMessage[];
}

/** What a pool learned on one worker, for the others (src/pool/permits.ts PoolFacts). */
export interface PoolFactsMessage {
  key: string;
  defaults?: Array<[string, string]>;
  settings?: string[];
  /** The pool went away on a worker: forget what was learned. */
  forget?: boolean;
}

/** The other workers' admitted clients (and, per tenant, the other nodes' for maxClientConnectionsFleet). */
export interface PeerCounts {
  total: number;
  tenants: Record<string, number>;
  /** Clients of the tenant on this node's other workers plus the other nodes of the fleet. */
  fleet: Record<string, number>;
  healthy: boolean;
  storeStatus: StoreStatus;
}

/** Answered by the supervisor, asked by a worker. */
export interface SupervisorSide {
  requests: {
    init: [{ index: number }, WorkerInit];
    lock: [{ name: string; ttlMs: number }, { token: string } | { lost: true }];
    idleEverywhere: [{ tenant: string; idleMs: number }, boolean];
    nodes: [Record<string, never>, NodeInfo[]];
    forwardCancel: [{ slot: number; pid: number; secret: number; clientIp: string }, boolean];
    reload: [{ trigger: string }, ReloadOutcome];
    pause: [{ tenant: string | undefined }, null];
    resume: [{ tenant: string | undefined }, null];
    recordFailure: [{ tenant: string; address: string; policy: BanPolicy }, FailureOutcome];
  };
  events: {
    ready: { port: number };
    unlock: { name: string; token: string };
    announceMachine: { machine: string; state: string };
    /** Latest admitted clients and activity per tenant, coalesced per tick into one message (src/cluster/client-report.ts). */
    clients: { counts?: Array<[string, number]>; activity?: Array<[string, TenantActivity]> };
    permitRequest: { key: string; size: number; n: number };
    permitRelease: { key: string; n: number };
    permitWithdraw: { key: string };
    stop: { reason: string };
    facts: PoolFactsMessage;
  };
}

/** Answered by a worker, asked by the supervisor. */
export interface WorkerSide {
  requests: {
    metrics: [Record<string, never>, unknown[]];
    pools: [Record<string, never>, PoolSnapshot[]];
    upstreams: [Record<string, never>, UpstreamStatus[]];
    pause: [{ tenant: string | undefined }, null];
    resume: [{ tenant: string | undefined }, null];
    /** Drains the worker's sessions; the worker exits 0 after answering. */
    drain: [{ reason: string }, null];
  };
  events: {
    storeUpsert: { tenant: TenantRecord };
    storeDelete: { id: string };
    config: { config: Config };
    peers: PeerCounts;
    cancel: { pid: number; secret: number; clientIp: string; fromNode: string };
    machine: { machine: string; state: string; byNode: string };
    permitGrant: { key: string; n: number };
    permitHandOver: { key: string; n: number; mode: 'idle' | 'owe' };
    bans: { list: BanEntry[] };
    facts: PoolFactsMessage;
  };
}
