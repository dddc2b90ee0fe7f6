// Fleet-wide bans in Redis: counting and banning in one Lua script, announced on a channel, re-read every second; Redis down means enforcing what is known and counting here.
import type { Redis } from 'ioredis';
import { closeRedis, openRedis, type RedisRole } from '../net/index.js';
import { PgporterError } from '../errors.js';
import type { Logger } from '../observability/index.js';
import { banKey, parseBanKey, BanCache, type BanEntry } from './ban-cache.js';
import { countLocally, type BanBackend, type BanPolicy, type FailureOutcome } from './ban-backend.js';
import { FailureCounter } from './failure-counter.js';

export interface RedisBanOptions {
  url: string;
  password?: string | undefined;
  caFile?: string | undefined;
  keyPrefix: string;
  /** How often the full list is read (pub/sub brings changes at once; this repairs a lost message). */
  syncIntervalMs: number;
  connectTimeoutMs: number;
  logger: Logger;
}

/*
 * Keys (p = keyPrefix; member = "<tenant>:<address>"):
 *   <p>authfail:<member>  integer, failures in the window; PX = window, set by the first failure
 *   <p>ban:<member>       string (failures that made it); PX = ban time; its existence is the ban
 *   <p>bans:index         set of members that may be banned, so a node reads the list without SCAN; trimmed on read
 *   <p>bans               channel: {"op":"ban","m":member,"ttl":ms} or {"op":"lift","m":member}
 * Expiry travels as a remaining time (PTTL), never as a timestamp, so nodes need not agree on the clock.
 */

// KEYS: authfail, ban, index. ARGV: window ms, max failures, ban ms, member, channel.
// Returns {0, failures} counted, {1, pttl} already banned, {2, failures} banned now.
const FAIL_SCRIPT = `
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then return {1, ttl} end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n < tonumber(ARGV[2]) then return {0, n} end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], n, 'PX', ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('PUBLISH', ARGV[5], cjson.encode({op = 'ban', m = ARGV[4], ttl = tonumber(ARGV[3])}))
return {2, n}`;

// Writes back a ban made while Redis was away; an existing ban is kept. KEYS: ban, index. ARGV: ttl ms, member, channel.
const RESTORE_SCRIPT = `
if redis.call('SET', KEYS[1], 'restored', 'PX', ARGV[1], 'NX') then
  redis.call('SADD', KEYS[2], ARGV[2])
  redis.call('PUBLISH', ARGV[3], cjson.encode({op = 'ban', m = ARGV[2], ttl = tonumber(ARGV[1])}))
  return 1
end
return 0`;

// KEYS: ban, authfail, index. ARGV: member, channel. Returns 1 when a ban existed.
const LIFT_SCRIPT = `
local had = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[2], cjson.encode({op = 'lift', m = ARGV[1]}))
return had`;

// KEYS: index. ARGV: ban key prefix. Returns member, pttl pairs; members whose ban has expired leave the index.
const READ_SCRIPT = `
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local ttl = redis.call('PTTL', ARGV[1] .. m)
  if ttl > 0 then
    out[#out + 1] = m
    out[#out + 1] = ttl
  else
    redis.call('SREM', KEYS[1], m)
  end
end
return out`;

export class RedisBanBackend implements BanBackend {
  readonly kind = 'redis';
  readonly cache = new BanCache();
  /** Failures counted here while Redis is unreachable. */
  private readonly fallback = new FailureCounter();
  private readonly log: Logger;
  private readonly p: string;
  private readonly channel: string;
  private cmd: Redis | undefined;
  private sub: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private ok = false;
  private closed = false;

  constructor(private readonly opts: RedisBanOptions) {
    this.log = opts.logger.child({ component: 'bans', backend: 'redis' });
    this.p = opts.keyPrefix;
    this.channel = `${this.p}bans`;
  }

  async start(): Promise<void> {
    this.cmd = this.client({ name: 'bans-commands', subscriber: false });
    this.sub = this.client({ name: 'bans-subscriber', subscriber: true });
    this.sub.on('message', (_channel: string, message: string) => this.onMessage(message));
    // (Re)subscribed: whatever was published meanwhile is lost, so read the whole list.
    this.sub.on('ready', () => void this.sync());
    void this.sub.subscribe(this.channel).catch((err: Error) => this.setHealthy(false, err.message));
    this.cmd.on('ready', () => void this.sync());
    this.timer = setInterval(() => {
      this.fallback.sweep();
      void this.sync();
    }, this.opts.syncIntervalMs);
    this.timer.unref();
    // Serving does not wait for Redis: with no bans known yet, nobody is refused for a ban.
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await closeRedis([this.cmd, this.sub], this.syncing);
  }

  healthy(): boolean {
    return this.ok;
  }

  async recordFailure(tenant: string, address: string, policy: BanPolicy): Promise<FailureOutcome> {
    const key = banKey(tenant, address);
    const known = this.cache.get(key);
    if (known) return { kind: 'already', ban: known };
    if (this.ready()) {
      try {
        const [code, value] = (await this.cmd!.eval(
          FAIL_SCRIPT,
          3,
          `${this.p}authfail:${key}`,
          `${this.p}ban:${key}`,
          `${this.p}bans:index`,
          policy.windowMs,
          policy.maxFailures,
          policy.banTimeMs,
          key,
          this.channel,
        )) as [number, number];
        this.setHealthy(true, 'failure counted');
        if (code === 0) return { kind: 'counted', failures: value };
        if (code === 1) return { kind: 'already', ban: this.cache.add(tenant, address, Date.now() + value) };
        return { kind: 'banned', failures: value, ban: this.cache.add(tenant, address, Date.now() + policy.banTimeMs) };
      } catch (err) {
        this.setHealthy(false, (err as Error).message);
      }
    }
    // Redis unreachable: count here, so a guesser is still stopped on this node; the ban is written back later.
    return countLocally(this.cache, this.fallback, tenant, address, policy, true);
  }

  async lift(tenant: string, address: string): Promise<boolean> {
    const key = banKey(tenant, address);
    if (!this.ready()) {
      throw new PgporterError('STORE_UNAVAILABLE', 'bans_unavailable', 'redis', 'Redis is unreachable: a ban can only be lifted on every node at once');
    }
    let had: number;
    try {
      had = Number(await this.cmd!.eval(LIFT_SCRIPT, 3, `${this.p}ban:${key}`, `${this.p}authfail:${key}`, `${this.p}bans:index`, key, this.channel));
    } catch (err) {
      this.setHealthy(false, (err as Error).message);
      throw new PgporterError('STORE_UNAVAILABLE', 'bans_unavailable', 'redis', `Redis write failed: ${(err as Error).message}`, { cause: err });
    }
    this.fallback.reset(key);
    // A ban known only here (made while Redis was away) counts as lifted too.
    const local = this.cache.get(key) !== undefined;
    this.cache.remove(key);
    return had === 1 || local;
  }

  async list(): Promise<BanEntry[]> {
    await this.sync();
    return this.cache.list();
  }

  private ready(): boolean {
    return !this.closed && this.cmd?.status === 'ready';
  }

  /** One full read at a time; callers arriving meanwhile share it. */
  private sync(): Promise<void> {
    if (!this.ready()) return Promise.resolve();
    return (this.syncing ??= this.readAll().finally(() => (this.syncing = undefined)));
  }

  private async readAll(): Promise<void> {
    try {
      await this.writeBack();
      const since = this.cache.mark();
      const flat = (await this.cmd!.eval(READ_SCRIPT, 1, `${this.p}bans:index`, `${this.p}ban:`)) as Array<string | number>;
      const now = Date.now();
      const entries: BanEntry[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const pair = parseBanKey(String(flat[i]));
        if (pair) entries.push({ ...pair, expiresAt: now + Number(flat[i + 1]) });
      }
      this.cache.replace(entries, since);
      this.setHealthy(true, 'bans read');
    } catch (err) {
      this.setHealthy(false, (err as Error).message);
    }
  }

  /**
   * Bans made here while Redis was away, and those known when it went away, go back to Redis (and so to every node)
   * with the time they have left; SET NX keeps a ban Redis still holds. A lift is refused while Redis is away, so
   * nothing lifted is brought back (short of a lift message lost just before the outage).
   */
  private async writeBack(): Promise<void> {
    const now = Date.now();
    for (const b of this.cache.localOnly(now)) {
      const key = banKey(b.tenant, b.address);
      const added = Number(await this.cmd!.eval(RESTORE_SCRIPT, 2, `${this.p}ban:${key}`, `${this.p}bans:index`, Math.max(1, b.expiresAt - now), key, this.channel));
      this.cache.written(key);
      if (added === 1) this.log.info({ event: 'ban_written_back', tenant: b.tenant, client: b.address }, 'ban Redis did not hold written back');
    }
  }

  private onMessage(message: string): void {
    let m: { op?: unknown; m?: unknown; ttl?: unknown };
    try {
      m = JSON.parse(message) as typeof m;
    } catch {
      this.log.warn({ message }, 'ignoring malformed ban message');
      return;
    }
    const pair = typeof m.m === 'string' ? parseBanKey(m.m) : undefined;
    if (!pair) return;
    if (m.op === 'ban' && typeof m.ttl === 'number' && m.ttl > 0) this.cache.add(pair.tenant, pair.address, Date.now() + m.ttl);
    else if (m.op === 'lift') this.cache.remove(banKey(pair.tenant, pair.address));
  }

  private client(role: RedisRole): Redis {
    const c = openRedis(this.opts, role, (err: Error) => this.setHealthy(false, err.message));
    c.on('close', () => this.setHealthy(false, 'connection closed'));
    return c;
  }

  private setHealthy(ok: boolean, reason: string): void {
    if (this.closed || ok === this.ok) return;
    this.ok = ok;
    // Redis may come back empty (no persistence, failover): what this node enforces now goes back with its time left.
    if (!ok) this.cache.keepAll();
    if (ok) this.log.info({ event: 'bans_redis_ok', bans: this.cache.size }, 'bans: Redis reachable; fleet-wide bans in sync');
    else this.log.error({ event: 'bans_redis_down', reason }, 'bans: Redis unreachable; enforcing known bans and counting failures on this node');
  }
}
