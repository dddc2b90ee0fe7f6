// Several nodes on one Redis: heartbeats with a TTL, a cancel-key slot per node, cancel forwarding and machine events by pub/sub, locks, and fleet-wide client counts.
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/index.js';
import { closeRedis, openRedis, type RedisTarget } from '../net/index.js';
import type { Fleet, FleetLock, ForwardedCancel, MachineEvent, NodeInfo, TenantActivity } from './types.js';

export interface RedisFleetOptions {
  redis: RedisTarget;
  keyPrefix: string;
  nodeId: string;
  heartbeatIntervalMs: number;
  nodeTtlMs: number;
  logger: Logger;
}

// Claims the first free slot from ARGV[4] on (or the one this node already holds). ARGV: prefix, node id, ttl, first.
const CLAIM_SLOT = `
for i = 0, 255 do
  local n = (tonumber(ARGV[4]) + i) % 256
  local k = ARGV[1] .. 'fleet:slot:' .. n
  local cur = redis.call('GET', k)
  if cur == false or cur == ARGV[2] then
    redis.call('SET', k, ARGV[2], 'PX', ARGV[3])
    return n
  end
end
return -1`;

// One round trip per heartbeat, on Redis' clock (nodes' clocks may differ): renew the node key, its entry in the live
// set and its slot; drop dead entries; publish this node's activity per tenant; return the live nodes with their expiry.
// ARGV: prefix, node id, ttl, slot, node JSON, then tenant/activity JSON pairs.
const HEARTBEAT = `
local p = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', p .. 'fleet:node:' .. ARGV[2], ARGV[5], 'PX', ARGV[3])
redis.call('ZADD', p .. 'fleet:nodes', now + tonumber(ARGV[3]), ARGV[2])
redis.call('ZREMRANGEBYSCORE', p .. 'fleet:nodes', '-inf', now)
local sk = p .. 'fleet:slot:' .. ARGV[4]
local cur = redis.call('GET', sk)
if cur == false or cur == ARGV[2] then redis.call('SET', sk, ARGV[2], 'PX', ARGV[3]) end
for i = 6, #ARGV, 2 do redis.call('HSET', p .. 'fleet:idle:' .. ARGV[i], ARGV[2], ARGV[i + 1]) end
local live = redis.call('ZRANGEBYSCORE', p .. 'fleet:nodes', now, '+inf', 'WITHSCORES')
table.insert(live, tostring(now))
return live`;

// Deletes a lock only while it is still ours.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class RedisFleet implements Fleet {
  readonly shared = true;
  readonly nodeId: string;
  private _slot: number;
  private readonly p: string;
  private readonly log: Logger;
  private cmd: Redis | undefined;
  private sub: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  private lastBeat = 0;
  /** Live nodes' expiry (Redis clock) as of the last heartbeat, and the offset of Redis' clock from ours. */
  private live = new Map<string, number>();
  private clockOffset = 0;
  private readonly activity = new Map<string, TenantActivity>();
  /** Tenants whose clients on other nodes are counted (those with a fleet-wide limit), and the counts. */
  private readonly watched = new Map<string, number>();
  private readonly cancelHandlers: Array<(c: ForwardedCancel) => void> = [];
  private readonly machineHandlers: Array<(e: MachineEvent) => void> = [];
  private closed = false;

  constructor(private readonly opts: RedisFleetOptions) {
    this.nodeId = opts.nodeId;
    this.p = opts.keyPrefix;
    this.log = opts.logger.child({ component: 'fleet', node: opts.nodeId });
    // Before Redis answers, the slot a hash of the id picks: the claim at start usually confirms it.
    this._slot = createHash('sha256').update(opts.nodeId).digest().readUInt8(0);
  }

  get slot(): number {
    return this._slot;
  }

  async start(): Promise<void> {
    const onError = (err: Error) => this.log.debug({ err: err.message }, 'fleet Redis connection error');
    this.cmd = openRedis(this.opts.redis, { name: 'fleet', subscriber: false }, onError);
    this.sub = openRedis(this.opts.redis, { name: 'fleet-subscriber', subscriber: true }, onError);
    this.sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    // Commands fail at once until the connection is ready (no offline queue): wait for it, bounded like the store's.
    await whenReady(this.cmd, this.opts.redis.connectTimeoutMs);
    try {
      const n = Number(await this.cmd.eval(CLAIM_SLOT, 0, this.p, this.nodeId, String(this.opts.nodeTtlMs), String(this._slot)));
      if (n >= 0) this._slot = n;
      else this.log.error('no free cancel-key slot (256 nodes alive?): sharing one; cancels still reach the right client');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'Redis unreachable at start: this node acts alone until it answers');
    }
    await this.sub.subscribe(this.cancelChannel(this._slot), this.machineChannel()).catch(() => undefined);
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.opts.heartbeatIntervalMs);
    this.timer.unref();
    this.log.info({ slot: this._slot, nodes: this.live.size }, 'joined the fleet');
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const c = this.cmd;
    if (c && c.status === 'ready') {
      // Leave at once rather than after the TTL: peers stop counting this node.
      const m = c.multi().del(`${this.p}fleet:node:${this.nodeId}`).zrem(`${this.p}fleet:nodes`, this.nodeId);
      m.eval(RELEASE, 1, `${this.p}fleet:slot:${this._slot}`, this.nodeId);
      for (const tenant of this.activity.keys()) m.hdel(`${this.p}fleet:idle:${tenant}`, this.nodeId);
      await m.exec().catch(() => undefined);
    }
    await closeRedis([this.cmd, this.sub]);
  }

  healthy(): boolean {
    return this.cmd?.status === 'ready' && Date.now() - this.lastBeat < this.opts.nodeTtlMs;
  }

  async nodes(): Promise<NodeInfo[]> {
    if (!this.healthy()) return [this.selfInfo()];
    const ids = [...this.live.keys()];
    const raw = ids.length ? await this.cmd!.mget(...ids.map((id) => `${this.p}fleet:node:${id}`)) : [];
    const out: NodeInfo[] = [];
    ids.forEach((id, i) => {
      let info: { slot?: number; startedAt?: number } = {};
      try {
        info = JSON.parse(raw[i] ?? '{}') as typeof info;
      } catch {
        // a node key that is not ours to read: listed with what the live set says
      }
      out.push({ id, slot: info.slot ?? -1, startedAt: info.startedAt ?? 0, expiresAt: this.live.get(id)! - this.clockOffset, self: id === this.nodeId });
    });
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  async forwardCancel(slot: number, cancel: Omit<ForwardedCancel, 'fromNode'>): Promise<boolean> {
    if (!this.healthy()) return false;
    try {
      const receivers = await this.cmd!.publish(this.cancelChannel(slot), JSON.stringify({ ...cancel, fromNode: this.nodeId }));
      return receivers > 0;
    } catch {
      return false;
    }
  }

  onCancel(handler: (cancel: ForwardedCancel) => void): void {
    this.cancelHandlers.push(handler);
  }

  async lock(name: string, ttlMs: number): Promise<FleetLock | 'lost'> {
    const key = `${this.p}${name}`;
    const token = randomUUID();
    if (!this.healthy()) return { release: async () => undefined };
    let got: string | null;
    try {
      got = await this.cmd!.set(key, token, 'PX', Math.max(1, Math.round(ttlMs)), 'NX');
    } catch {
      return { release: async () => undefined }; // Redis went away: act alone, as without a fleet
    }
    if (got !== 'OK') return 'lost';
    return {
      release: async () => {
        await this.cmd!.eval(RELEASE, 1, key, token).catch(() => undefined);
      },
    };
  }

  announceMachine(machine: string, state: string): void {
    if (!this.healthy()) return;
    this.cmd!.publish(this.machineChannel(), JSON.stringify({ machine, state, byNode: this.nodeId })).catch(() => undefined);
  }

  onMachineEvent(handler: (e: MachineEvent) => void): void {
    this.machineHandlers.push(handler);
  }

  reportActivity(tenantId: string, activity: TenantActivity): void {
    const before = this.activity.get(tenantId);
    this.activity.set(tenantId, activity);
    // A first client is told at once: another node deciding to suspend must see it before the next heartbeat.
    if (activity.clients > 0 && (before === undefined || before.clients === 0) && this.cmd?.status === 'ready') {
      this.cmd.hset(`${this.p}fleet:idle:${tenantId}`, this.nodeId, JSON.stringify(activity)).catch(() => undefined);
    }
  }

  async idleEverywhere(tenantId: string, idleMs: number): Promise<boolean> {
    if (!this.healthy()) return false;
    let hash: Record<string, string>;
    let nowRedis: number;
    let liveIds: string[];
    try {
      const res = (await this.cmd!.multi().time().zrangebyscore(`${this.p}fleet:nodes`, '-inf', '+inf', 'WITHSCORES').hgetall(`${this.p}fleet:idle:${tenantId}`).exec()) as Array<
        [Error | null, unknown]
      >;
      if (res.some(([e]) => e)) return false;
      const time = res[0]![1] as [string, string];
      nowRedis = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
      const z = res[1]![1] as string[];
      liveIds = [];
      for (let i = 0; i < z.length; i += 2) if (Number(z[i + 1]) > nowRedis) liveIds.push(z[i]!);
      hash = res[2]![1] as Record<string, string>;
    } catch {
      return false;
    }
    // idleSince is each node's own clock; nodes are assumed to keep time (NTP), unlike liveness, which is Redis' clock.
    const now = Date.now();
    for (const id of liveIds) {
      const a = id === this.nodeId ? this.activity.get(tenantId) : parseActivity(hash[id]);
      // A live node that never reported the tenant has never had a client for it.
      if (a === undefined) continue;
      if (a.clients > 0 || a.idleSince === undefined || now - a.idleSince < idleMs) return false;
    }
    return true;
  }

  clientsElsewhere(tenantId: string): number {
    const n = this.watched.get(tenantId);
    if (n === undefined) this.watched.set(tenantId, 0);
    return n ?? 0;
  }

  private selfInfo(): NodeInfo {
    return { id: this.nodeId, slot: this._slot, startedAt: this.startedAt, expiresAt: this.lastBeat + this.opts.nodeTtlMs, self: true };
  }

  private async beat(): Promise<void> {
    const c = this.cmd;
    if (this.closed || !c || c.status !== 'ready') return;
    const args: string[] = [this.p, this.nodeId, String(this.opts.nodeTtlMs), String(this._slot), JSON.stringify({ slot: this._slot, startedAt: this.startedAt })];
    for (const [tenant, a] of this.activity) args.push(tenant, JSON.stringify(a));
    try {
      const res = (await c.eval(HEARTBEAT, 0, ...args)) as string[];
      const nowRedis = Number(res[res.length - 1]);
      const live = new Map<string, number>();
      for (let i = 0; i + 1 < res.length - 1; i += 2) live.set(res[i]!, Number(res[i + 1]));
      this.live = live;
      this.clockOffset = nowRedis - Date.now();
      this.lastBeat = Date.now();
      if (this.watched.size) await this.countElsewhere();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'heartbeat failed');
    }
  }

  /** Sums the clients other live nodes report for the watched tenants. */
  private async countElsewhere(): Promise<void> {
    const tenants = [...this.watched.keys()];
    const m = this.cmd!.multi();
    for (const t of tenants) m.hgetall(`${this.p}fleet:idle:${t}`);
    const res = (await m.exec()) as Array<[Error | null, Record<string, string>]>;
    tenants.forEach((t, i) => {
      const [err, hash] = res[i]!;
      if (err) return;
      let n = 0;
      for (const [id, json] of Object.entries(hash)) if (id !== this.nodeId && this.live.has(id)) n += parseActivity(json)?.clients ?? 0;
      this.watched.set(t, n);
    });
  }

  private onMessage(channel: string, message: string): void {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(message) as Record<string, unknown>;
    } catch {
      return;
    }
    if (channel === this.machineChannel()) {
      if (m.byNode === this.nodeId || typeof m.machine !== 'string' || typeof m.state !== 'string') return;
      const e: MachineEvent = { machine: m.machine, state: m.state, byNode: String(m.byNode) };
      for (const h of this.machineHandlers) h(e);
      return;
    }
    if (typeof m.pid !== 'number' || typeof m.secret !== 'number' || typeof m.clientIp !== 'string') return;
    const c: ForwardedCancel = { pid: m.pid, secret: m.secret, clientIp: m.clientIp, fromNode: String(m.fromNode) };
    for (const h of this.cancelHandlers) h(c);
  }

  private cancelChannel(slot: number): string {
    return `${this.p}fleet:cancel:${slot}`;
  }

  private machineChannel(): string {
    return `${this.p}fleet:machine`;
  }
}

function whenReady(c: Redis, timeoutMs: number): Promise<void> {
  if (c.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      c.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    c.once('ready', done);
  });
}

function parseActivity(json: string | undefined): TenantActivity | undefined {
  if (json === undefined) return undefined;
  try {
    const a = JSON.parse(json) as { clients?: unknown; idleSince?: unknown };
    return { clients: typeof a.clients === 'number' ? a.clients : 0, idleSince: typeof a.idleSince === 'number' ? a.idleSince : undefined };
  } catch {
    return undefined;
  }
}
