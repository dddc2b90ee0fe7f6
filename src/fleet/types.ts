// The fleet seam: what a node needs from its peers (liveness, cancel forwarding, locks, shared machine state, fleet-wide counts), whether or not there are any.

/** A live node as the fleet sees it. */
export interface NodeInfo {
  id: string;
  /** 0..255: the node's bits in the cancel keys it hands out. */
  slot: number;
  startedAt: number;
  /** Epoch ms until which the node counts as alive without a new heartbeat. */
  expiresAt: number;
  self: boolean;
}

/** A CancelRequest another node received for a key this node handed out. */
export interface ForwardedCancel {
  pid: number;
  secret: number;
  /** The real client address the CancelRequest came from (allowlist check on the owner). */
  clientIp: string;
  fromNode: string;
}

/** What a node says about one tenant: its clients, and since when it has had none. */
export interface TenantActivity {
  clients: number;
  /** Epoch ms since which the node has had no client for the tenant; undefined while it has some. */
  idleSince: number | undefined;
}

export interface FleetLock {
  /** Releases the lock if this node still holds it. */
  release(): Promise<void>;
}

/** A machine state another node announced (`suspended`, `started`). */
export interface MachineEvent {
  machine: string;
  state: string;
  byNode: string;
}

export interface Fleet {
  readonly nodeId: string;
  /** The node's slot in cancel keys (0 for a node alone). */
  readonly slot: number;
  /** True with peers possible (Redis); false for a node alone. */
  readonly shared: boolean;
  start(): Promise<void>;
  close(): Promise<void>;
  /** Redis reachable and this node's heartbeat current (always true alone). */
  healthy(): boolean;
  /** Live nodes, this one included. */
  nodes(): Promise<NodeInfo[]>;

  /** Sends a CancelRequest to the node owning `slot`; false when it could not be sent. */
  forwardCancel(slot: number, cancel: Omit<ForwardedCancel, 'fromNode'>): Promise<boolean>;
  onCancel(handler: (cancel: ForwardedCancel) => void): void;

  /**
   * Takes the fleet-wide lock `name` for up to `ttlMs`: the lock, or 'lost' when another node holds it. Alone, or with
   * Redis unreachable, the lock is granted (the caller's own single flight is then all the coordination there is).
   */
  lock(name: string, ttlMs: number): Promise<FleetLock | 'lost'>;
  /** Announces a machine's new state to the other nodes (they drop connections to a machine suspended elsewhere). */
  announceMachine(machine: string, state: string): void;
  onMachineEvent(handler: (e: MachineEvent) => void): void;

  /** This node's clients for a tenant, published with the heartbeat (and at once when it goes from 0 to 1). */
  reportActivity(tenantId: string, activity: TenantActivity): void;
  /**
   * Whether every live node has had no client for the tenant for at least `idleMs`. False when Redis is unreachable:
   * never act on a partial view.
   */
  idleEverywhere(tenantId: string, idleMs: number): Promise<boolean>;
  /** Clients of the tenant on the other live nodes, as of the last heartbeat (0 alone). */
  clientsElsewhere(tenantId: string): number;
}
