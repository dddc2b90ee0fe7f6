// One pooled client: reads its messages, gets a server when it needs one, and rewrites the few messages pooling must (named statements).
// Message formats: https://www.postgresql.org/docs/current/protocol-message-formats.html
import type { Socket } from 'node:net';
import { ClientError } from '../errors.js';
import { Frontend as F, backendKeyData, noticeResponse, parameterStatus, readyForQuery } from '../protocol/index.js';
import type { ClientSession, SessionEnd } from './types.js';
import { Act, Framer, type FrameSink } from './framer.js';
import { Outbox } from './outbox.js';
import { Exp } from './expect-queue.js';
import { PARSE_COMPLETE, type PooledServer } from './server.js';
import { buildBind, buildParse, buildQuery, buildStatementMessage, cstringEnd, serverNameFor, statementCommand, type ClientStatement } from './statements.js';
import { afterReset, startupWants } from './params.js';

/** idle: connected, no server. waiting: queued for a server. active: bound to one. closed: gone. */
export type ClientState = 'idle' | 'waiting' | 'active' | 'closed';

const NEXT: Record<ClientState, readonly ClientState[]> = {
  idle: ['waiting', 'active', 'closed'],
  waiting: ['active', 'closed'],
  active: ['idle', 'closed'],
  closed: [],
};

/** What a client needs from its pool. */
export interface ClientHost {
  readonly mode: 'transaction' | 'session';
  readonly defaults: ReadonlyMap<string, string> | undefined;
  readonly stats: { queries: number; transactions: number };
  readonly clock: { now: number };
  /** A free server now, or undefined after queueing the client (it gets `attach()` later). */
  acquire(client: PoolClient): PooledServer | undefined;
  /** The client no longer wants to wait. */
  cancelWait(client: PoolClient): void;
  /** The client let go of the server (transaction over, or client gone); `clean` says whether it can be reused. */
  checkin(server: PooledServer, clean: boolean): void;
}

const READY_IDLE = readyForQuery('I');

/** Largest message accepted from a client (PostgreSQL's own limit is 1 GB). */
const MAX_CLIENT_MESSAGE = 0x3fffffff;
/** Queries longer than this cannot be DEALLOCATE/DISCARD and are streamed, not buffered. */
const SHORT_QUERY = 600;

export class PoolClient implements FrameSink {
  state: ClientState = 'idle';
  server: PooledServer | undefined;
  readonly socket: Socket;
  readonly out: Outbox;
  readonly framer: Framer;
  /** Parameter values this client should see on every server: defaults, its startup values, what it SET. */
  readonly want = new Map<string, string>();
  /** Values this client was last told in ParameterStatus. */
  private readonly seen = new Map<string, string>();
  private readonly statements = new Map<string, ClientStatement>();
  lastActive: number;
  waitingSince = 0;
  /** Paused because the server's socket is full. */
  private serverFull = false;
  private startup: { resolve(): void; reject(err: ClientError): void } | undefined;
  private readonly bytesRead0: number;
  private readonly bytesWritten0: number;
  private resolveEnd!: (end: SessionEnd) => void;
  readonly done: Promise<SessionEnd>;

  constructor(
    readonly session: ClientSession,
    private readonly host: ClientHost,
  ) {
    this.socket = session.socket;
    this.out = new Outbox(this.socket);
    this.framer = new Framer(this, 'client', MAX_CLIENT_MESSAGE);
    this.lastActive = host.clock.now;
    this.bytesRead0 = this.socket.bytesRead;
    this.bytesWritten0 = this.socket.bytesWritten;
    this.done = new Promise<SessionEnd>((r) => (this.resolveEnd = r));
  }

  /** The one place a client changes state. */
  private setState(next: ClientState): void {
    if (!NEXT[this.state].includes(next)) throw new Error(`client: illegal transition ${this.state} -> ${next}`);
    this.state = next;
  }

  /**
   * Before the client is told it is ready: the pool must know a server's parameters (one login the first time),
   * so the client sees the ParameterStatus set a direct connection would show.
   */
  async initialise(): Promise<void> {
    if (this.host.defaults === undefined) {
      await new Promise<void>((resolve, reject) => {
        this.startup = { resolve, reject };
        const s = this.host.acquire(this);
        if (s) this.attach(s);
      });
    }
    const defaults = this.host.defaults ?? new Map<string, string>();
    for (const [k, v] of defaults) this.want.set(k, v);
    for (const [k, v] of startupWants(this.session.params)) this.want.set(k, v);
    const sv = this.server;
    if (sv) {
      // Session mode keeps the server from the first login; transaction mode gives it back until the first query.
      if (this.host.mode === 'session') sv.syncParams(this.want);
      else this.detach(true);
    }
  }

  /** Sends the ParameterStatus set, pgporter's BackendKeyData and ReadyForQuery, then relays until the client leaves. */
  start(key: { pid: number; secret: number }): void {
    const hello: Buffer[] = [];
    for (const k of (this.host.defaults ?? new Map<string, string>()).keys()) {
      const v = this.want.get(k)!;
      this.seen.set(k, v);
      hello.push(parameterStatus(k, v));
    }
    hello.push(backendKeyData(key.pid, key.secret), readyForQuery('I'));
    this.out.push(Buffer.concat(hello));
    const s = this.socket;
    s.on('data', this.onData);
    s.on('drain', this.onDrain);
    s.on('error', this.onError);
    s.on('close', this.onClose);
    s.on('end', this.onEnd);
    const pending = this.session.reader.detach();
    if (pending.length) this.onData(pending);
    else this.flush();
    if (this.state !== 'closed') this.updateReading();
  }

  /** The server currently serving this client, for CancelRequest routing. */
  currentServer(): PooledServer | undefined {
    return this.server;
  }

  // --- pool side ---

  /** The pool hands this client a server. */
  attach(server: PooledServer): void {
    if (this.state === 'closed') {
      this.host.checkin(server, true);
      return;
    }
    this.setState('active');
    this.server = server;
    server.bind(this);
    if (this.startup) {
      const st = this.startup;
      this.startup = undefined;
      st.resolve();
      return;
    }
    if (this.framer.holding) {
      this.serverFull = false;
      this.framer.release();
      this.flush();
    }
    this.updateReading();
  }

  /** Gives the server back (transaction finished); `clean` is false when it owes replies or is mid-transaction. */
  detach(clean: boolean): void {
    const sv = this.server;
    if (!sv) return;
    this.server = undefined;
    this.serverFull = false;
    sv.unbind();
    if (this.state === 'active') this.setState('idle');
    this.host.checkin(sv, clean);
    if (this.state !== 'closed') this.updateReading();
  }

  /** Queued: nothing is read from the client until a server arrives. */
  queued(now: number): void {
    this.setState('waiting');
    this.waitingSince = now;
    this.socket.pause();
  }

  /** The server's ParameterStatus: the client follows its own SETs; it hears only about values it has not seen. */
  parameterStatus(name: string, value: string, buf: Buffer, start: number, end: number): void {
    this.want.set(name, value);
    if (this.seen.get(name) === value) return;
    this.seen.set(name, value);
    this.out.range(buf, start, end);
  }

  /** A NoticeResponse while the client waits (e.g. "waking the database"). */
  notice(message: string): void {
    if (this.state === 'closed') return;
    this.out.push(noticeResponse(message));
    this.flush();
  }

  serverDrained(): void {
    if (!this.serverFull) return;
    this.serverFull = false;
    this.updateReading();
  }

  /** Ends the session with an error the client can read (FATAL). */
  fail(err: ClientError, endedBy: SessionEnd['endedBy'] = 'pgporter'): void {
    if (this.startup) {
      const st = this.startup;
      this.startup = undefined;
      if (this.state === 'waiting') this.host.cancelWait(this);
      if (this.state !== 'closed') this.setState('closed');
      st.reject(err);
      return;
    }
    if (this.state === 'closed') return;
    this.out.push(err.toErrorResponse());
    this.finish(endedBy, err.message);
  }

  /** The server died under this client. */
  serverLost(): void {
    this.server = undefined;
    this.fail(new ClientError('SERVER_LOST', 'server closed the connection unexpectedly'), 'server');
  }

  // --- socket side ---

  private readonly onData = (chunk: Buffer): void => {
    this.lastActive = this.host.clock.now;
    try {
      this.framer.push(chunk);
    } catch (err) {
      this.fail(new ClientError('CLIENT_PROTOCOL', `invalid message from client: ${(err as Error).message}`), 'client');
      return;
    }
    this.flush();
  };

  private readonly onDrain = (): void => {
    const sv = this.server;
    if (sv && sv.clientFull) {
      sv.clientFull = false;
      sv.socket.resume();
    }
  };

  private readonly onError = (err: Error): void => this.finish('client', `client socket error: ${err.message}`);
  private readonly onClose = (): void => this.finish('client', 'client closed the connection');
  private readonly onEnd = (): void => this.finish('client', 'client closed the connection');

  private flush(): void {
    const sv = this.server;
    if (sv && !sv.out.flush()) {
      this.serverFull = true;
      this.updateReading();
    }
    if (!this.out.flush() && sv) {
      sv.clientFull = true;
      sv.socket.pause();
    }
  }

  private updateReading(): void {
    if (this.state === 'closed') return;
    if (this.state === 'waiting' || this.serverFull) this.socket.pause();
    else this.socket.resume();
  }

  private finish(endedBy: SessionEnd['endedBy'], reason: string): void {
    if (this.state === 'closed') return;
    const wasWaiting = this.state === 'waiting';
    this.setState('closed');
    this.framer.halt();
    if (wasWaiting) this.host.cancelWait(this);
    const sv = this.server;
    if (sv) {
      this.server = undefined;
      sv.unbind();
      this.host.checkin(sv, sv.clean);
    }
    this.out.flush();
    const s = this.socket;
    s.off('data', this.onData);
    s.end();
    setTimeout(() => s.destroy(), 2000).unref();
    this.resolveEnd({
      endedBy,
      reason,
      bytesFromClient: s.bytesRead - this.bytesRead0,
      bytesToClient: s.bytesWritten - this.bytesWritten0,
    });
  }

  // --- FrameSink: the client's messages ---

  header(type: number, length: number): Act {
    if (this.state === 'closed') return Act.Drop;
    let sv = this.server;
    if (sv === undefined) {
      switch (type) {
        case F.Terminate:
          this.finish('client', 'client sent Terminate');
          return Act.Drop;
        case F.Parse:
          return Act.Collect; // a named Parse needs no server yet (see message())
        case F.Sync:
          // Without a server everything before this Sync was answered here, outside any transaction.
          this.host.stats.queries++;
          this.out.push(READY_IDLE);
          return Act.Drop;
        case F.Flush:
        case F.CopyData:
        case F.CopyDone:
        case F.CopyFail:
          return Act.Drop; // nothing to flush or copy into without a server
      }
      if (this.state === 'waiting') return Act.Hold;
      sv = this.host.acquire(this);
      if (sv === undefined) return Act.Hold;
      this.attach(sv);
    }
    // After an error in a batch the server ignores everything up to Sync; so does pgporter.
    if (sv.errSkip && type !== F.Sync && type !== F.Terminate) return Act.Drop;
    switch (type) {
      case F.Parse:
      case F.Bind:
      case F.Describe:
      case F.Close:
        return Act.Collect;
      case F.Query:
        if (length <= SHORT_QUERY) return Act.Collect;
        this.sentQuery(sv);
        return Act.Pass;
      case F.Sync:
        this.host.stats.queries++;
        // In copy-in mode the server ignores Sync: no ReadyForQuery will answer it.
        if (!sv.copyIn) {
          sv.expect.push(Exp.Sync);
          sv.errSkip = false;
          sv.gen++;
        }
        return Act.Pass;
      case F.Execute:
        sv.expect.push(Exp.Execute);
        return Act.Pass;
      case F.FunctionCall:
        this.host.stats.queries++;
        sv.expect.push(Exp.FunctionCall);
        sv.gen++;
        return Act.Pass;
      case F.CopyDone:
      case F.CopyFail:
        if (sv.copyIn) sv.copyIn = false;
        else sv.expect.push(Exp.CopyEnd);
        return Act.Pass;
      case F.Terminate:
        this.finish('client', 'client sent Terminate');
        return Act.Drop;
      default:
        return Act.Pass; // Flush, CopyData; anything else the server judges
    }
  }

  pass(buf: Buffer, start: number, end: number): void {
    this.server?.out.range(buf, start, end);
  }

  message(type: number, buf: Buffer, start: number, end: number): boolean {
    let sv = this.server;
    if (!sv) {
      if (this.state === 'closed') return true;
      // A named Parse without a server is only recorded and answered: it is prepared on whichever server first
      // needs it. Clients that prepare synchronously (pgbench -M prepared) would otherwise wait for a server held by
      // a transaction that cannot finish until they return.
      if (type === F.Parse && end - start > 5 && buf[start + 5] !== 0) {
        if (this.recordParse(buf, start, end)) this.out.push(PARSE_COMPLETE);
        return true;
      }
      if (this.state === 'waiting') return false;
      sv = this.host.acquire(this);
      if (sv === undefined) return false;
      this.attach(sv);
    }
    switch (type) {
      case F.Parse:
        this.onParse(sv, buf, start, end);
        break;
      case F.Bind:
        this.onBind(sv, buf, start, end);
        break;
      case F.Describe:
      case F.Close:
        this.onStatementMessage(sv, type, buf, start, end);
        break;
      case F.Query:
        this.onQuery(sv, buf, start, end);
        break;
    }
    return true;
  }

  /** Remembers a named Parse under its server-side name; undefined (after failing the client) when malformed. */
  private recordParse(buf: Buffer, start: number, end: number): ClientStatement | undefined {
    const nameEnd = cstringEnd(buf, start + 5, end);
    if (nameEnd < 0) {
      this.protocolError('Parse');
      return undefined;
    }
    const serverName = serverNameFor(buf, nameEnd + 1, end);
    const st: ClientStatement = { serverName, parse: buildParse(serverName, buf.subarray(nameEnd + 1, end)) };
    this.statements.set(buf.toString('utf8', start + 5, nameEnd), st);
    return st;
  }

  private sentQuery(sv: PooledServer): void {
    this.host.stats.queries++;
    sv.expect.push(Exp.Query);
    sv.gen++;
  }

  private protocolError(what: string): void {
    this.fail(new ClientError('CLIENT_PROTOCOL', `invalid ${what} message`), 'client');
  }

  /** Parse: unnamed passes through; named gets its server-side name, or a made-up ParseComplete if the server has it. */
  private onParse(sv: PooledServer, buf: Buffer, start: number, end: number): void {
    const nameEnd = cstringEnd(buf, start + 5, end);
    if (nameEnd < 0) return this.protocolError('Parse');
    if (nameEnd === start + 5) {
      sv.expect.push(Exp.Parse);
      sv.out.range(buf, start, end);
      return;
    }
    const st = this.recordParse(buf, start, end);
    if (st) sv.ensurePrepared(st, true);
  }

  /** Bind: a named statement is prepared on this server first if needed, and the name rewritten. */
  private onBind(sv: PooledServer, buf: Buffer, start: number, end: number): void {
    const portalEnd = cstringEnd(buf, start + 5, end);
    const stmtEnd = portalEnd < 0 ? -1 : cstringEnd(buf, portalEnd + 1, end);
    if (stmtEnd < 0) return this.protocolError('Bind');
    const st = stmtEnd === portalEnd + 1 ? undefined : this.statements.get(buf.toString('utf8', portalEnd + 1, stmtEnd));
    if (st === undefined) {
      sv.out.range(buf, start, end);
    } else {
      sv.ensurePrepared(st);
      sv.out.push(buildBind(buf.subarray(start + 5, portalEnd + 1), st.serverName, buf.subarray(stmtEnd + 1, end)));
    }
    sv.expect.push(Exp.Bind);
  }

  /** Describe and Close: of a named statement, rewritten (Describe) or answered by pgporter (Close); portals pass through. */
  private onStatementMessage(sv: PooledServer, type: F.Describe | F.Close, buf: Buffer, start: number, end: number): void {
    const nameEnd = cstringEnd(buf, start + 6, end);
    if (end - start < 7 || nameEnd < 0) return this.protocolError(type === F.Describe ? 'Describe' : 'Close');
    const isStatement = buf[start + 5] === 0x53; // 'S'
    const name = isStatement && nameEnd > start + 6 ? buf.toString('utf8', start + 6, nameEnd) : undefined;
    const st = name === undefined ? undefined : this.statements.get(name);
    if (type === F.Close) {
      if (st !== undefined) {
        // Kept on the server: other clients may share it, and the LRU closes it when room is needed.
        this.statements.delete(name!);
        sv.synth(Exp.CloseSynth);
        return;
      }
      sv.out.range(buf, start, end);
      sv.expect.push(Exp.Close);
      return;
    }
    if (st !== undefined) {
      sv.ensurePrepared(st);
      sv.out.push(buildStatementMessage(F.Describe, st.serverName));
    } else sv.out.range(buf, start, end);
    sv.expect.push(Exp.Describe);
  }

  /** Query: DEALLOCATE and DISCARD ALL change the client's statements; everything else passes through. */
  private onQuery(sv: PooledServer, buf: Buffer, start: number, end: number): void {
    const cmd = statementCommand(buf, start + 5, end);
    if (cmd === undefined) sv.out.range(buf, start, end);
    else if (cmd.kind === 'deallocate') {
      const st = this.statements.get(cmd.name);
      if (st) {
        // This server may never have prepared it: prepare it first so the DEALLOCATE answers as it would directly.
        sv.ensurePrepared(st);
        this.statements.delete(cmd.name);
        sv.statements.delete(st.serverName);
        sv.out.push(buildQuery(`DEALLOCATE "${st.serverName}"`));
      } else sv.out.range(buf, start, end);
    } else {
      this.statements.clear();
      sv.statements.clear();
      if (cmd.kind === 'discard-all') afterReset(sv.have, this.host.defaults ?? new Map());
      sv.out.range(buf, start, end);
    }
    this.sentQuery(sv);
  }
}
