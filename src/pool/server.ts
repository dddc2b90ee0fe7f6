// One pooled server connection: reads the server's replies, forwards or swallows each by what it answers, and tells the pool when it is free.
// Message flow: https://www.postgresql.org/docs/current/protocol-flow.html
import type { Socket } from 'node:net';
import { Backend as B, Frontend as F } from '../protocol/index.js';
import type { ServerConnection, ServerKey, UpstreamTarget } from '../upstream/index.js';
import { Act, Framer, type FrameSink } from './framer.js';
import { Outbox } from './outbox.js';
import { Exp, ExpectQueue, isSyncLike } from './expect-queue.js';
import { StatementCache, buildQuery, buildStatementMessage, type ClientStatement } from './statements.js';
import { afterReset, parameterStatusBody, syncStatement } from './params.js';
import type { PoolClient } from './client.js';

/**
 * idle: in the pool's idle stack. active: bound to a client. resetting: running the reset query before going back
 * (session mode). closed: gone.
 */
export type ServerState = 'idle' | 'active' | 'resetting' | 'closed';

const NEXT: Record<ServerState, readonly ServerState[]> = {
  idle: ['active', 'closed'],
  active: ['idle', 'resetting', 'closed'],
  resetting: ['idle', 'closed'],
  closed: [],
};

/** What a server needs from its pool. */
export interface ServerHost {
  readonly mode: 'transaction' | 'session';
  readonly defaults: ReadonlyMap<string, string> | undefined;
  readonly stats: { queries: number; transactions: number };
  /** The server finished its work and may serve someone else (after a client's transaction or a reset). */
  serverFree(server: PooledServer): void;
  /** The server's connection is gone. */
  serverClosed(server: PooledServer, reason: string): void;
  debug(msg: string, extra?: Record<string, unknown>): void;
}

const ST_IDLE = 0x49; // 'I'

// Replies pgporter makes up in place of the server's (constant frames, built once).
export const PARSE_COMPLETE = Buffer.from([B.ParseComplete, 0, 0, 0, 4]);
const CLOSE_COMPLETE = Buffer.from([B.CloseComplete, 0, 0, 0, 4]);

/** Largest message accepted from a server (PostgreSQL's own limit is 1 GB). */
const MAX_SERVER_MESSAGE = 0x3fffffff;

export class PooledServer implements FrameSink {
  state: ServerState = 'idle';
  client: PoolClient | undefined;
  readonly socket: Socket;
  readonly key: ServerKey;
  readonly target: UpstreamTarget;
  readonly out: Outbox;
  readonly framer: Framer;
  readonly expect = new ExpectQueue();
  readonly statements: StatementCache;
  /** Current parameter values: the server's reports plus what pgporter set. */
  readonly have: Map<string, string>;
  /** Status byte of the last ReadyForQuery. */
  status = ST_IDLE;
  /** After an error in an extended-query batch the server skips everything up to the next Sync. */
  errSkip = false;
  /** The server is in copy-in mode: it ignores Sync and Flush until CopyDone or CopyFail. */
  copyIn = false;
  /** Batch number, bumped per Sync or Query sent: statements used by the current batch are not evicted. */
  gen = 1;
  /** Paused because the client's socket is full. */
  clientFull = false;
  readonly openedAt: number;
  readonly expiresAt: number;
  idleSince: number;
  /** Close instead of reusing when next free (lifetime passed, tenant suspending). */
  retire = false;
  private freeDue = false;

  constructor(
    conn: ServerConnection,
    private readonly host: ServerHost,
    readonly epoch: number,
    lifetimeMs: number,
    cacheSize: number,
    now: number,
  ) {
    this.socket = conn.socket;
    this.key = conn.key;
    this.target = conn.target;
    this.have = new Map(conn.params);
    this.statements = new StatementCache(cacheSize);
    this.out = new Outbox(this.socket);
    this.framer = new Framer(this, 'server', MAX_SERVER_MESSAGE);
    this.openedAt = now;
    // ±10% jitter so servers opened together do not all expire together.
    this.expiresAt = now + lifetimeMs * (0.9 + Math.random() * 0.2);
    this.idleSince = now;
    this.socket.on('data', this.onData);
    this.socket.on('drain', this.onDrain);
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
    this.socket.setKeepAlive(true, 30_000);
    this.socket.resume();
  }

  /** The one place a server changes state. */
  setState(next: ServerState): void {
    if (!NEXT[this.state].includes(next)) throw new Error(`server: illegal transition ${this.state} -> ${next}`);
    this.state = next;
  }

  /** Nothing owed, not in a transaction, not mid-COPY: safe to hand to another client. */
  get clean(): boolean {
    return this.expect.length === 0 && this.status === ST_IDLE && !this.copyIn && !this.errSkip && !this.framer.midMessage;
  }

  get alive(): boolean {
    return this.state !== 'closed' && !this.socket.destroyed;
  }

  /** Binds to a client and queues what makes this server's parameters match the client's. */
  bind(client: PoolClient): void {
    this.setState('active');
    this.client = client;
    this.syncParams(client.want);
  }

  /** Sends SET/RESET (swallowed) when the client's parameters differ from this server's. */
  syncParams(want: ReadonlyMap<string, string>): void {
    const sql = syncStatement(want, this.have, this.host.defaults ?? new Map());
    if (sql === undefined) return;
    this.inject(sql);
  }

  /** Unbinds from its client (the client has already dropped its reference). */
  unbind(): void {
    this.client = undefined;
    if (this.clientFull) {
      this.clientFull = false;
      this.socket.resume();
    }
  }

  /** Session mode: runs the reset query, then goes back to the pool. */
  reset(resetQuery: string): void {
    this.unbind();
    this.setState('resetting');
    this.inject(resetQuery);
    this.out.flush();
  }

  /** Sends a query whose replies are all swallowed. */
  inject(sql: string): void {
    this.out.push(buildQuery(sql));
    this.expect.push(Exp.QuerySwallow);
    this.gen++;
  }

  /** A reply pgporter makes up (statement already prepared here, or kept for others): emitted in order. */
  synth(code: Exp.ParseSynth | Exp.CloseSynth): void {
    if (this.errSkip) return; // the server would have skipped the message: no reply
    if (this.expect.length === 0) this.client?.out.push(code === Exp.ParseSynth ? PARSE_COMPLETE : CLOSE_COMPLETE);
    else this.expect.push(code);
  }

  /**
   * Makes sure a client's named statement exists here, preparing it when missing. `answer`: the client sent this
   * Parse and expects a ParseComplete (made up when the statement is already here); otherwise the reply is swallowed.
   */
  ensurePrepared(st: ClientStatement, answer = false): void {
    if (this.statements.has(st.serverName)) {
      this.statements.touch(st.serverName, this.gen);
      if (answer) this.synth(Exp.ParseSynth);
      return;
    }
    this.makeRoom();
    this.out.push(st.parse);
    this.expect.push(answer ? Exp.Parse : Exp.ParseSwallow, st.serverName);
    this.statements.touch(st.serverName, this.gen);
  }

  /** Closes the least recently used statement when the cache is full (the CloseComplete is swallowed). */
  makeRoom(): void {
    const victim = this.statements.evictable(this.gen);
    if (victim === undefined) return;
    this.statements.delete(victim);
    this.out.push(buildStatementMessage(F.Close, victim));
    this.expect.push(Exp.CloseSwallow, victim);
  }

  close(reason: string): void {
    if (this.state === 'closed') return;
    this.host.debug('closing server connection', { reason, serverPid: this.key.pid });
    this.closeReason = reason;
    this.socket.destroy();
  }

  private closeReason = 'server closed the connection';

  private readonly onError = (err: Error): void => {
    this.closeReason = `server socket error: ${err.message}`;
  };

  private readonly onClose = (): void => {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.framer.halt();
    this.host.serverClosed(this, this.closeReason);
  };

  private readonly onDrain = (): void => {
    this.client?.serverDrained();
  };

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.framer.push(chunk);
    } catch (err) {
      this.close(`unreadable data from server: ${(err as Error).message}`);
      return;
    }
    const c = this.client;
    if (c && !c.out.flush()) {
      this.clientFull = true;
      this.socket.pause();
    }
    if (this.freeDue) {
      this.freeDue = false;
      if (this.clean && this.state !== 'closed') this.host.serverFree(this);
    }
  };

  // --- FrameSink: the server's replies ---

  header(type: number): Act {
    switch (type) {
      case B.DataRow:
      case 0x64: // CopyData 'd'
      case 0x63: // CopyDone 'c'
      case B.NoticeResponse:
      case B.NotificationResponse:
      case 0x56: // FunctionCallResponse 'V'
        return this.client === undefined || this.expect.peek() === Exp.QuerySwallow ? Act.Drop : Act.Pass;
      default:
        return Act.Collect;
    }
  }

  pass(buf: Buffer, start: number, end: number): void {
    this.client?.out.range(buf, start, end);
  }

  message(type: number, buf: Buffer, start: number, end: number): boolean {
    this.reply(type, buf, start, end);
    return true;
  }

  private reply(type: number, buf: Buffer, start: number, end: number): void {
    const q = this.expect;
    const head = q.peek();
    const c = this.client;
    switch (type) {
      case B.ReadyForQuery: {
        this.status = buf[start + 5]!;
        let answered: Exp | 0 = 0;
        while (q.length) {
          const x = q.shift();
          if (isSyncLike(x as Exp)) {
            answered = x;
            break;
          }
        }
        this.copyIn = false;
        if (answered !== Exp.QuerySwallow && c) {
          c.out.range(buf, start, end);
          if (this.status === ST_IDLE) this.host.stats.transactions++;
        }
        this.advance();
        if (q.length === 0) this.settled();
        return;
      }
      case B.ErrorResponse: {
        if (head === Exp.QuerySwallow) this.host.debug('injected query failed', { serverPid: this.key.pid, error: errorText(buf, start, end) });
        else if (c) c.out.range(buf, start, end);
        else if (this.state === 'idle') {
          // An idle server only speaks to say it is going away (admin shutdown, terminated backend).
          this.close('server sent an error while idle');
          return;
        }
        this.copyIn = false;
        if (head === 0 || head === Exp.Query || head === Exp.QuerySwallow || head === Exp.FunctionCall) return;
        // Extended query: the server now skips everything up to the next Sync; forget what it will not answer.
        while (q.length && !isSyncLike(q.peek() as Exp)) {
          const name = q.peekName();
          const x = q.shift();
          if (name !== undefined) {
            if (x === Exp.Parse || x === Exp.ParseSwallow) this.statements.delete(name);
            else if (x === Exp.CloseSwallow) this.statements.touch(name, 0); // the Close was skipped: still prepared
          }
        }
        if (q.length === 0) this.errSkip = true;
        return;
      }
      case B.ParseComplete: {
        const x = q.shift();
        if (x !== Exp.ParseSwallow && c) c.out.range(buf, start, end);
        this.advance();
        return;
      }
      case B.CloseComplete: {
        const x = q.shift();
        if (x !== Exp.CloseSwallow && c) c.out.range(buf, start, end);
        this.advance();
        return;
      }
      case B.BindComplete:
        q.shift();
        if (c) c.out.range(buf, start, end);
        this.advance();
        return;
      case B.RowDescription:
      case B.NoData:
        if (head === Exp.Describe) {
          q.shift();
          if (c) c.out.range(buf, start, end);
          this.advance();
        } else if (c && head !== Exp.QuerySwallow) c.out.range(buf, start, end);
        return;
      case B.CommandComplete:
      case B.EmptyQueryResponse:
      case B.PortalSuspended:
        if (head === Exp.Execute) {
          q.shift();
          if (c) c.out.range(buf, start, end);
          this.advance();
        } else if (c && head !== Exp.QuerySwallow) c.out.range(buf, start, end);
        return;
      case B.CopyInResponse:
        if (c) c.out.range(buf, start, end);
        this.copyInStarted();
        return;
      case B.ParameterStatus: {
        const kv = parameterStatusBody(buf, start + 5, end);
        if (!kv) return;
        this.have.set(kv[0], kv[1]);
        if (c) c.parameterStatus(kv[0], kv[1], buf, start, end);
        return;
      }
      default:
        if (c && head !== Exp.QuerySwallow) c.out.range(buf, start, end);
    }
  }

  /** Emits the made-up replies that are now due, in order. */
  private advance(): void {
    const q = this.expect;
    for (;;) {
      const x = q.peek();
      if (x === Exp.ParseSynth) this.client?.out.push(PARSE_COMPLETE);
      else if (x === Exp.CloseSynth) this.client?.out.push(CLOSE_COMPLETE);
      else if (x !== Exp.CopyEnd) return;
      q.shift();
    }
  }

  /**
   * CopyInResponse: until the client's CopyDone/CopyFail the server ignores Sync, so Syncs the client already sent
   * after the COPY will get no ReadyForQuery of their own.
   */
  private copyInStarted(): void {
    const q = this.expect;
    let i = 1;
    while (i < q.length) {
      const x = q.at(i);
      if (x === Exp.Sync) q.removeAt(i);
      else if (x === Exp.CopyEnd) {
        q.removeAt(i);
        return;
      } else i++;
    }
    this.copyIn = true;
  }

  /** Every message sent has been answered. */
  private settled(): void {
    if (this.state === 'resetting') {
      this.statements.clear();
      afterReset(this.have, this.host.defaults ?? new Map());
      this.freeDue = true;
    } else if (this.state === 'active' && this.host.mode === 'transaction' && this.status === ST_IDLE) {
      this.freeDue = true;
    }
  }
}

function errorText(buf: Buffer, start: number, end: number): string {
  // Only for the log: the M field of an ErrorResponse.
  let i = start + 5;
  while (i < end && buf[i] !== 0) {
    const z = buf.indexOf(0, i + 1);
    if (z < 0 || z >= end) break;
    if (buf[i] === 0x4d) return buf.toString('utf8', i + 1, z);
    i = z + 1;
  }
  return '';
}
