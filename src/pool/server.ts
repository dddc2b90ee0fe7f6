// One pooled server connection: owns its protocol state (what it still owes, which statements it holds, its settings), forwards or swallows each reply, and tells the pool when it is free.
// Message flow: https://www.postgresql.org/docs/current/protocol-flow.html
import type { Socket } from 'node:net';
import { Backend as B, Frontend as F } from '../protocol/index.js';
import type { ServerConnection, ServerKey, UpstreamTarget } from '../upstream/index.js';
import { Act, Framer, type FrameSink } from './framer.js';
import { Outbox } from './outbox.js';
import { Exp, ExpectQueue } from './expect-queue.js';
import { buildQuery, rewriteStatementNames, type ClientStatement } from './statements.js';
import { CLOSE_COMPLETE, PARSE_COMPLETE, ServerStatements } from './server-statements.js';
import { parameterStatusBody } from './params.js';
import { ServerSettings } from './server-settings.js';
import { errorFields, isReadOnlyError } from './error-fields.js';
import type { ServerHost, ServerPeer } from './seams.js';
import { SERVER_NEXT, type ServerState } from './conn-states.js';

const ST_IDLE = 0x49; // 'I'


/** Largest message accepted from a server (PostgreSQL's own limit is 1 GB). */
const MAX_SERVER_MESSAGE = 0x3fffffff;

/** Reset run in transaction mode after a client changed session settings with SET (prepared statements survive it). */
const RESET_SETTINGS = 'RESET ALL';

export class PooledServer implements FrameSink {
  private _state: ServerState = 'idle';
  private _client: ServerPeer | undefined;
  readonly socket: Socket;
  readonly key: ServerKey;
  readonly target: UpstreamTarget;
  readonly out: Outbox;
  readonly framer: Framer;
  private readonly expect = new ExpectQueue<ClientStatement | string>();
  /** The statements this server holds (named, and whose unnamed one), and the messages that make them so. */
  readonly prepared: ServerStatements;
  /** Its session settings: reported and confirmed values, the change under way, a client's own SET. */
  readonly settings: ServerSettings;
  /** Status byte of the last ReadyForQuery. */
  private status = ST_IDLE;
  /** After an error in an extended-query batch the server skips everything up to the next Sync. */
  private errSkip = false;
  /** Since the last ReadyForQuery: a statement completed; the client's exchange failed before any did. */
  private ran = false;
  private failedFirst = false;
  /** The server is in copy-in mode: it ignores Sync and Flush until CopyDone or CopyFail. */
  private copyIn = false;
  /** Whether the reset under way drops prepared statements (session mode's reset query) or not (RESET ALL). */
  private resetDropsStatements = false;
  /** Paused because the client's socket is full. */
  clientFull = false;
  readonly openedAt: number;
  readonly expiresAt: number;
  idleSince: number;
  /** Close instead of reusing when next free (lifetime passed, tenant suspending). */
  retire = false;
  private freeDue = false;
  private closeReason = 'server closed the connection';

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
    this.settings = new ServerSettings(conn.params, () => host.defaults);
    this.out = new Outbox(this.socket);
    const server = this;
    this.prepared = new ServerStatements(
      {
        out: this.out,
        expect: this.expect,
        get skipping() {
          return server.errSkip;
        },
        get client() {
          return server._client;
        },
        forward: (buf, start, end, reply, tag) => this.forward(buf, start, end, reply, tag),
      },
      cacheSize,
    );
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

  get state(): ServerState {
    return this._state;
  }

  get client(): ServerPeer | undefined {
    return this._client;
  }

  /** The one place a server changes state. */
  private setState(next: ServerState): void {
    if (!SERVER_NEXT[this._state].includes(next)) throw new Error(`server: illegal transition ${this._state} -> ${next}`);
    this._state = next;
  }

  /** Nothing owed, not in a transaction, not mid-COPY: safe to hand to another client. */
  get clean(): boolean {
    return this.expect.length === 0 && this.status === ST_IDLE && !this.copyIn && !this.errSkip && !this.framer.midMessage;
  }

  /**
   * The client's exchange failed (ERROR) before any of its statements completed, outside a transaction block, and only
   * its ReadyForQuery is owed: nothing can run here before the client is let go, and that reply can only say idle.
   */
  get failedIdle(): boolean {
    const h = this.expect.peek();
    return this.failedFirst && this.status === ST_IDLE && this.expect.length === 1 && (h === Exp.Query || h === Exp.Sync) && !this.copyIn && !this.framer.midMessage;
  }

  /** Inside a transaction with nothing outstanding: the client is idle in transaction. */
  get idleInTransaction(): boolean {
    return this.status !== ST_IDLE && this.expect.length === 0;
  }

  /** After an error in a batch the server ignores everything up to Sync; so does pgporter. */
  get skipping(): boolean {
    return this.errSkip;
  }

  get alive(): boolean {
    return this._state !== 'closed' && !this.socket.destroyed;
  }

  /** Must run a reset before another client may use it (a client changed session settings in transaction mode). */
  get needsReset(): boolean {
    return this.settings.changedByClient;
  }

  // --- the pool's side ---

  /** Put back on the idle stack. */
  toIdle(): void {
    if (this._state !== 'idle') this.setState('idle');
  }

  /**
   * Binds to a client. When the client's settings differ from this server's, they are sent first and the server is
   * `syncing` until it confirms them (the client holds its messages and hears `serverReady`); returns true then.
   */
  bind(client: ServerPeer, want: ReadonlyMap<string, string>): boolean {
    this._client = client;
    // Roles change under pooled servers (a replica promoted): a client moved here learns this server's at once.
    const hs = this.settings.have.get('in_hot_standby');
    if (hs !== undefined) client.roleStatus('in_hot_standby', hs);
    const sql = this.settings.begin(want);
    if (sql === undefined) {
      this.setState('active');
      return false;
    }
    this.setState('syncing');
    this.inject(sql, Exp.Settings);
    this.out.flush();
    return true;
  }

  /** Unbinds from its client (the client has already dropped its reference). */
  unbind(): void {
    this._client = undefined;
    if (this.clientFull) {
      this.clientFull = false;
      this.socket.resume();
    }
  }

  /**
   * Runs a reset, then goes back to the pool through serverFree. `dropsStatements`: the query may deallocate
   * prepared statements (session mode's configurable reset query), so the statement cache is cleared.
   */
  reset(sql: string, dropsStatements: boolean): void {
    this.unbind();
    if (this._state === 'syncing') this.setState('active');
    this.setState('resetting');
    this.resetDropsStatements = dropsStatements;
    this.inject(sql, Exp.QuerySwallow);
    this.out.flush();
  }

  /** Transaction mode: the reset that puts back session settings a client changed with SET. */
  resetSettings(): void {
    this.reset(RESET_SETTINGS, false);
  }

  close(reason: string): void {
    if (this._state === 'closed' || this.socket.destroyed) return;
    this.host.debug('closing server connection', { reason, serverPid: this.key.pid });
    this.closeReason = reason;
    this.socket.destroy();
  }

  // --- what the client tells it it sent ---

  /** A client message forwarded as it is (bytes already queued or passing), with the reply it asks for. */
  sent(type: number): void {
    switch (type) {
      case F.Sync:
        // In copy-in mode the server ignores Sync: no ReadyForQuery will answer it.
        if (!this.copyIn) {
          this.expect.push(Exp.Sync);
          this.errSkip = false;
          this.prepared.batchSent();
        }
        return;
      case F.Execute:
        this.expect.push(Exp.Execute);
        return;
      case F.FunctionCall:
        this.expect.push(Exp.FunctionCall);
        this.prepared.batchSent();
        return;
      case F.Query:
        this.expect.push(Exp.Query);
        this.prepared.simpleQuery();
        return;
      case F.CopyDone:
      case F.CopyFail:
        if (this.copyIn) this.copyIn = false;
        else this.expect.push(Exp.CopyEnd);
        return;
    }
  }

  /** A client message forwarded from buf[start, end) that expects `reply` (Bind, Describe or Close of a portal). */
  forward(buf: Buffer, start: number, end: number, reply: Exp, tag?: ClientStatement): void {
    this.out.range(buf, start, end);
    this.expect.push(reply, tag);
  }

  /** A message pgporter built for the client (a rewritten Bind or Describe), expecting `reply`. */
  send(msg: Buffer, reply: Exp, tag?: ClientStatement): void {
    this.out.push(msg);
    this.expect.push(reply, tag);
  }

  /** The client's DEALLOCATE ALL or DISCARD ALL (forwarded by the caller): every statement here is gone. */
  statementsDropped(discardAll: boolean): void {
    this.prepared.dropAll();
    if (discardAll) this.settings.wereReset();
  }

  // --- internals ---

  /** Sends a query whose replies are all swallowed. */
  private inject(sql: string, code: Exp.QuerySwallow | Exp.Settings): void {
    this.out.push(buildQuery(sql));
    this.expect.push(code);
    this.prepared.simpleQuery();
  }

  private readonly onError = (err: Error): void => {
    this.closeReason = `server socket error: ${err.message}`;
  };

  private readonly onClose = (): void => {
    if (this._state === 'closed') return;
    this._state = 'closed';
    this.framer.halt();
    this.host.serverClosed(this, this.closeReason);
  };

  private readonly onDrain = (): void => {
    this._client?.serverDrained();
  };

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.framer.push(chunk);
    } catch (err) {
      this.close(`unreadable data from server: ${(err as Error).message}`);
      return;
    }
    const c = this._client;
    if (c && !c.out.flush()) {
      this.clientFull = true;
      this.socket.pause();
    }
    if (this.freeDue) {
      this.freeDue = false;
      try {
        if (this.clean && this._state !== 'closed') this.host.serverFree(this);
      } catch (err) {
        // A bug while handing the server on: this server and its client end, never the process.
        this.close(`internal error handing the server on: ${(err as Error).message}`);
      }
    }
  };

  // --- FrameSink: the server's replies ---

  header(type: number): Act {
    const c = this._client;
    if (c) c.atBoundary();
    switch (type) {
      case B.DataRow:
      case 0x64: // CopyData 'd'
      case 0x63: // CopyDone 'c'
      case B.NoticeResponse:
      case B.NotificationResponse:
      case 0x56: // FunctionCallResponse 'V'
        return this._client === undefined || this.swallowing ? Act.Drop : Act.Pass;
      default:
        return Act.Collect;
    }
  }

  /** Replies to a query pgporter injected are not the client's. */
  private get swallowing(): boolean {
    const h = this.expect.peek();
    return h === Exp.QuerySwallow || h === Exp.Settings;
  }

  pass(buf: Buffer, start: number, end: number): void {
    this._client?.out.range(buf, start, end);
  }

  message(type: number, buf: Buffer, start: number, end: number): boolean {
    this.reply(type, buf, start, end);
    return true;
  }

  private toClient(buf: Buffer, start: number, end: number): void {
    this._client?.out.range(buf, start, end);
  }

  private reply(type: number, buf: Buffer, start: number, end: number): void {
    const q = this.expect;
    const head = q.peek();
    const c = this._client;
    switch (type) {
      case B.ReadyForQuery: {
        this.status = buf[start + 5]!;
        this.ran = false;
        this.failedFirst = false;
        const answered = q.shiftThroughSync();
        this.copyIn = false;
        if (answered === Exp.Settings) this.settingsDone();
        else if (answered !== Exp.QuerySwallow && c) {
          c.out.range(buf, start, end);
          if (this.status === ST_IDLE) this.host.stats.transactions++;
          c.readyForQuery(this.status === ST_IDLE, q.length > 0);
        }
        this.advance();
        if (q.length === 0) this.settled();
        return;
      }
      case B.ErrorResponse:
        this.onErrorResponse(head, buf, start, end);
        return;
      case B.ParseComplete: {
        const tag = q.peekTag();
        const x = q.shift();
        if (typeof tag === 'object' && tag.serverName !== '') this.host.statementValid(tag.serverName);
        if (x !== Exp.ParseSwallow) this.toClient(buf, start, end);
        this.advance();
        return;
      }
      case B.CloseComplete: {
        const x = q.shift();
        if (x !== Exp.CloseSwallow) this.toClient(buf, start, end);
        this.advance();
        return;
      }
      case B.BindComplete:
        q.shift();
        this.toClient(buf, start, end);
        this.advance();
        return;
      case B.RowDescription:
      case B.NoData:
        if (head === Exp.Describe) {
          q.shift();
          this.toClient(buf, start, end);
          this.advance();
        } else if (!this.swallowing) this.toClient(buf, start, end);
        return;
      case B.CommandComplete:
        if (!this.swallowing && this.host.mode === 'transaction') this.settings.commandDone(buf, start, end);
        this.commandDone(head, buf, start, end);
        return;
      case B.EmptyQueryResponse:
      case B.PortalSuspended:
        this.commandDone(head, buf, start, end);
        return;
      case B.CopyInResponse:
        this.toClient(buf, start, end);
        // Until the client's CopyDone/CopyFail the server ignores Sync: Syncs already sent will get no ReadyForQuery.
        if (this.expect.copyStarted()) this.copyIn = true;
        return;
      case B.ParameterStatus: {
        const kv = parameterStatusBody(buf, start + 5, end);
        if (!kv) return;
        this.settings.reported(kv[0], kv[1]);
        if (kv[0] === 'in_hot_standby' || kv[0] === 'default_transaction_read_only') this.host.roleHint();
        if (c) c.parameterStatus(kv[0], kv[1], buf, start, end);
        return;
      }
      default:
        if (!this.swallowing) this.toClient(buf, start, end);
    }
  }

  /** CommandComplete, EmptyQueryResponse, PortalSuspended: an Execute answered, or one statement of a Query. */
  private commandDone(head: Exp | 0, buf: Buffer, start: number, end: number): void {
    this.ran = true;
    if (head === Exp.Execute) {
      this.expect.shift();
      this.toClient(buf, start, end);
      this.advance();
    } else if (!this.swallowing) this.toClient(buf, start, end);
  }

  private onErrorResponse(head: Exp | 0, buf: Buffer, start: number, end: number): void {
    const q = this.expect;
    const c = this._client;
    // 25006 read_only_sql_transaction: a write reached a server that is read-only now (demoted or fenced).
    if (isReadOnlyError(buf, start, end)) this.host.roleHint();
    if (c && !this.ran && head !== 0 && head !== Exp.Settings && head !== Exp.QuerySwallow && head !== Exp.FunctionCall) {
      const f = errorFields(buf, start, end);
      this.failedFirst = (f.V ?? f.S) === 'ERROR';
    }
    if (head === Exp.Settings) this.settings.refuse(errorFields(buf, start, end));
    else if (head === Exp.QuerySwallow) this.host.debug('injected query failed', { serverPid: this.key.pid, error: errorFields(buf, start, end).M });
    else if (c) {
      const headTag = q.peekTag();
      const named = rewriteStatementNames(buf, start, end, (n) =>
        typeof headTag === 'object' && headTag.serverName === n ? headTag.clientName : c.prepared.clientNameOf(n),
      );
      if (named) c.out.push(named);
      else c.out.range(buf, start, end);
    } else if (this._state === 'idle') {
      // An idle server only speaks to say it is going away (admin shutdown, terminated backend).
      this.close('server sent an error while idle');
      return;
    }
    this.copyIn = false;
    if (head === 0 || head === Exp.Query || head === Exp.QuerySwallow || head === Exp.Settings || head === Exp.FunctionCall) return;
    // Extended query: the server now skips everything up to the next Sync; forget what it will not answer.
    this.prepared.errorSkip(c);
    if (q.length === 0) this.errSkip = true;
  }

  /** The settings sent while syncing were answered: record them, or tell the client they were refused. */
  private settingsDone(): void {
    const refused = this.settings.finish();
    if (this._state === 'syncing') {
      this.setState('active');
      this._client?.serverReady(refused);
    }
  }

  /** Emits the made-up replies that are now due, in order. */
  private advance(): void {
    const q = this.expect;
    for (;;) {
      const x = q.peek();
      if (x === Exp.ParseSynth) this._client?.out.push(PARSE_COMPLETE);
      else if (x === Exp.CloseSynth) this._client?.out.push(CLOSE_COMPLETE);
      else if (x !== Exp.CopyEnd) return;
      q.shift();
    }
  }

  /** Every message sent has been answered. */
  private settled(): void {
    if (this._state === 'resetting') {
      if (this.resetDropsStatements) this.prepared.dropAll();
      this.settings.wereReset();
      this.freeDue = true;
    } else if (this._state === 'active' && this.status === ST_IDLE) {
      if (this.host.mode === 'transaction') this.freeDue = true;
      else this._client?.transactionDone();
    }
  }
}
