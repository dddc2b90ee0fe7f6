// One pooled client: reads its messages, gets a server when it needs one, and keeps what it prepared so every server it lands on runs its own statements.
// Message formats: https://www.postgresql.org/docs/current/protocol-message-formats.html
import type { Socket } from 'node:net';
import { ClientError } from '../errors.js';
import { Frontend as F, MAX_FRONTEND_MESSAGE, backendKeyData, frontendMessageProblem, noticeResponse, parameterStatus, readyForQuery } from '../protocol/index.js';
import type { ClientSession, SessionEnd } from './types.js';
import { Act, Framer, FramingError, type FrameSink } from './framer.js';
import { Outbox } from './outbox.js';
import type { PooledServer } from './server.js';
import { ClientStatements, NoServerParse } from './client-statements.js';
import { ClientSettings, settingRefused } from './client-settings.js';
import { TransactionTimer } from './latency.js';
import type { ErrorFieldMap } from './error-fields.js';
import type { ClientHost, ServerPeer } from './seams.js';

/**
 * starting: logged in, not yet told it is ready (the pool may need a server to learn its parameters or check the
 * client's settings). idle: no server. waiting: queued for a server. active: bound to one. closed: gone.
 */
export type ClientState = 'starting' | 'idle' | 'waiting' | 'active' | 'closed';

const NEXT: Record<ClientState, readonly ClientState[]> = {
  starting: ['idle', 'waiting', 'active', 'closed'],
  idle: ['waiting', 'active', 'closed'],
  waiting: ['active', 'closed'],
  active: ['idle', 'closed'],
  closed: [],
};

const READY_IDLE = readyForQuery('I');

/** Queries longer than this cannot be DEALLOCATE/DISCARD and are streamed, not buffered. */
const SHORT_QUERY = 600;
/** How long an ending session waits for a server message being forwarded to finish before it just closes. */
const END_WAIT_MS = 5000;

export class PoolClient implements FrameSink, ServerPeer {
  private _state: ClientState = 'starting';
  private _server: PooledServer | undefined;
  readonly socket: Socket;
  readonly out: Outbox;
  readonly framer: Framer;
  /** Its settings: asked for at startup, wanted on every server, told in ParameterStatus. */
  readonly settings = new ClientSettings();
  /** What this client prepared, and the messages that use it. */
  readonly prepared: ClientStatements;
  /** An error pgporter answered itself, without a server: everything up to Sync is ignored, as the server would. */
  private skipping = false;
  /** Draining: the session ends with this error at its next transaction boundary. */
  private drainErr: ClientError | undefined;
  /** An end waiting for the server message being forwarded to finish (never cut a DataRow in half). */
  private pendingEnd: { err: ClientError; endedBy: SessionEnd['endedBy'] } | undefined;
  lastActive: number;
  waitingSince = 0;
  private readonly timer = new TransactionTimer();
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
    this.framer = new Framer(this, 'client', MAX_FRONTEND_MESSAGE);
    this.lastActive = host.clock.now;
    this.bytesRead0 = this.socket.bytesRead;
    this.bytesWritten0 = this.socket.bytesWritten;
    this.done = new Promise<SessionEnd>((r) => (this.resolveEnd = r));
    this.prepared = new ClientStatements({
      out: this.out,
      searchPath: () => this.settings.want.get('search_path') ?? '',
      isValidStatement: (n) => host.isValidStatement(n),
      protocolError: (what) => this.protocolError(what),
    });
  }

  get state(): ClientState {
    return this._state;
  }

  /** The server serving this client right now (CancelRequest routing, timeouts). */
  get server(): PooledServer | undefined {
    return this._server;
  }

  /** The one place a client changes state. */
  private setState(next: ClientState): void {
    if (!NEXT[this._state].includes(next)) throw new Error(`client: illegal transition ${this._state} -> ${next}`);
    this._state = next;
  }

  /**
   * Before the client is told it is ready. A server is needed when the pool does not yet know a server's parameters
   * (so the client sees the ParameterStatus set a direct connection would show) or when a startup setting has not
   * been accepted by a server yet: PostgreSQL refuses a login with a bad setting, and so does pgporter.
   */
  async initialise(): Promise<void> {
    this.settings.parseStartup(this.session.params);
    if (this.host.defaults === undefined || this.host.unconfirmedSettings(this.settings.startup)) {
      await new Promise<void>((resolve, reject) => {
        this.startup = { resolve, reject };
        const s = this.host.acquire(this);
        if (s) this.attach(s);
      });
    } else this.settings.fill(this.host.defaults);
    // Session mode keeps the server it logged in with; transaction mode gives it back until the first query.
    if (this._server && this.host.mode === 'transaction') this.detach(true);
    if (this._state === 'starting') this.setState('idle');
  }

  /** Sends the ParameterStatus set, pgporter's BackendKeyData and ReadyForQuery, then relays until the client leaves. */
  start(key: { pid: number; secret: number }): void {
    const hello = this.settings.hello(this.host.defaults);
    hello.push(backendKeyData(key.pid, key.secret), readyForQuery('I'));
    this.out.push(Buffer.concat(hello));
    const s = this.socket;
    s.on('data', this.onData);
    s.on('drain', this.onDrain);
    s.on('error', this.onError);
    s.on('close', this.onClose);
    s.on('end', this.onEnd);
    const pending = this.session.reader.detach();
    if (pending.length) this.feed(pending);
    else this.flush();
    // A client that left while it waited for its first server (a login, a wake) closed before these listeners.
    if (s.destroyed || s.readableEnded) return this.finish('client', 'client closed the connection');
    this.updateReading();
  }

  /** Ends the session with an error the client can read (FATAL), at a message boundary of what it is receiving. */
  fail(err: ClientError, endedBy: SessionEnd['endedBy'] = 'pgporter'): void {
    if (this.startup) return this.startupDone(err);
    if (this._state === 'closed') return;
    if (this._server?.framer.passing) {
      // A server message is being forwarded to the client: the error goes after it (see atBoundary).
      if (this.pendingEnd === undefined) {
        this.pendingEnd = { err, endedBy };
        setTimeout(() => this.finish(endedBy, err.message), END_WAIT_MS).unref();
      }
      return;
    }
    this.out.push(err.toErrorResponse());
    this.finish(endedBy, err.message);
  }

  /**
   * pgporter is stopping: the session ends with `err` (57P01) at a transaction boundary, never inside a transaction.
   * A client holding no server is at one now.
   */
  drain(err: ClientError): void {
    if (this._state === 'closed') return;
    this.drainErr = err;
    const sv = this._server;
    if (sv === undefined || this.startup !== undefined || (sv.clean && !this.framer.midMessage)) this.fail(err);
  }

  // --- pool side ---

  /** The pool hands this client a server. */
  attach(server: PooledServer): void {
    if (this._state === 'closed') {
      this.host.checkin(server, true);
      return;
    }
    this.setState('active');
    this._server = server;
    if (this.startup) this.settings.fill(this.host.defaults);
    const syncing = server.bind(this, this.settings.want);
    if (this.startup) {
      if (!syncing) this.startupDone(undefined);
      return;
    }
    if (!syncing) this.resumeReading();
    else this.updateReading();
  }

  /** Gives the server back (transaction finished); `clean` is false when it owes replies or is mid-transaction. */
  detach(clean: boolean): void {
    const sv = this._server;
    if (!sv) return;
    this._server = undefined;
    this.serverFull = false;
    sv.unbind();
    if (this._state === 'active') this.setState('idle');
    this.host.checkin(sv, clean);
    if (this._state === 'closed') return;
    if (this.drainErr && !this.framer.midMessage) return this.fail(this.drainErr);
    this.updateReading();
  }

  /** Queued: nothing is read from the client until a server arrives. */
  queued(now: number): void {
    this.setState('waiting');
    this.waitingSince = now;
    this.socket.pause();
  }

  /** A NoticeResponse while the client waits (e.g. "waking the database"). */
  notice(message: string): void {
    if (this._state === 'closed') return;
    this.out.push(noticeResponse(message));
    this.flush();
  }

  /** The server died under this client. */
  serverLost(): void {
    this._server = undefined;
    this.fail(new ClientError('SERVER_LOST', 'server closed the connection unexpectedly'), 'server');
  }

  // --- ServerPeer: what the bound server tells its client ---

  /** The server's ParameterStatus: the client follows its own SETs; it hears only about values it has not seen. */
  parameterStatus(name: string, value: string, buf: Buffer, start: number, end: number): void {
    if (this.settings.reported(name, value)) this.out.range(buf, start, end);
  }

  roleStatus(name: string, value: string): void {
    if (this.settings.reported(name, value)) this.out.push(parameterStatus(name, value));
  }

  serverReady(refused: ErrorFieldMap | undefined): void {
    if (refused !== undefined) {
      // The server changed nothing; this client cannot run with the settings it asked for.
      this.fail(settingRefused(refused), 'client');
      return;
    }
    if (this.startup) return this.startupDone(undefined);
    this.resumeReading();
  }

  serverDrained(): void {
    if (!this.serverFull) return;
    this.serverFull = false;
    this.updateReading();
  }

  readyForQuery(idle: boolean, moreOwed: boolean): void {
    this.timer.ready(idle, moreOwed, this.host.stats.queryLatency, this.host.stats.transactionLatency);
  }

  transactionDone(): void {
    if (this.drainErr && !this.framer.midMessage) this.fail(this.drainErr);
  }

  atBoundary(): void {
    const end = this.pendingEnd;
    if (end === undefined) return;
    this.pendingEnd = undefined;
    this.out.push(end.err.toErrorResponse());
    this.finish(end.endedBy, end.err.message);
  }

  // --- socket side ---

  private readonly onData = (chunk: Buffer): void => {
    this.lastActive = this.host.clock.now;
    this.feed(chunk);
  };

  private readonly onDrain = (): void => {
    const sv = this._server;
    if (sv && sv.clientFull) {
      sv.clientFull = false;
      sv.socket.resume();
    }
  };

  private readonly onError = (err: Error): void => this.finish('client', `client socket error: ${err.message}`);
  private readonly onClose = (): void => this.finish('client', 'client closed the connection');
  private readonly onEnd = (): void => this.finish('client', 'client closed the connection');

  /**
   * The one place the client's bytes are processed (new bytes, or those held while it waited): whatever they make
   * fail ends this client alone, never the process.
   */
  private feed(chunk: Buffer | undefined): void {
    try {
      if (chunk) this.framer.push(chunk);
      else this.framer.release();
    } catch (err) {
      if (err instanceof FramingError) this.fail(new ClientError('CLIENT_PROTOCOL', `invalid message from client: ${err.message}`), 'client');
      else {
        this.host.internalError(err);
        this.fail(new ClientError('INTERNAL', 'internal error in pgporter'), 'pgporter');
      }
      return;
    }
    this.flush();
  }

  /** A server is ready for the client's messages: process what was held for it. */
  private resumeReading(): void {
    if (this.framer.holding) {
      this.serverFull = false;
      this.feed(undefined);
    }
    this.updateReading();
  }

  private flush(): void {
    const sv = this._server;
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
    if (this._state === 'closed' || this._state === 'starting') return;
    if (this._state === 'waiting' || this.serverFull || this._server?.state === 'syncing') this.socket.pause();
    else this.socket.resume();
  }

  private startupDone(err: ClientError | undefined): void {
    const st = this.startup!;
    this.startup = undefined;
    if (err === undefined) {
      this.host.settingsConfirmed(this.settings.startup);
      st.resolve();
      return;
    }
    if (this._state === 'waiting') this.host.cancelWait(this);
    const sv = this._server;
    if (sv) {
      this._server = undefined;
      sv.unbind();
      this.host.checkin(sv, sv.clean);
    }
    if (this._state !== 'closed') this.setState('closed');
    st.reject(err);
  }

  private finish(endedBy: SessionEnd['endedBy'], reason: string): void {
    if (this._state === 'closed') return;
    const wasWaiting = this._state === 'waiting';
    this.setState('closed');
    this.pendingEnd = undefined;
    // A client gone half-way through a message left the server a partial one: that server cannot be reused.
    const clientMidMessage = this.framer.midMessage;
    this.framer.halt();
    if (wasWaiting) this.host.cancelWait(this);
    const sv = this._server;
    if (sv) {
      this._server = undefined;
      sv.unbind();
      this.host.checkin(sv, sv.clean && !clientMidMessage);
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
    if (this._state === 'closed') return Act.Drop;
    if (type === F.Terminate) {
      this.finish('client', 'client sent Terminate');
      return Act.Drop;
    }
    const problem = frontendMessageProblem(type, length);
    if (problem !== undefined) {
      this.fail(new ClientError('CLIENT_PROTOCOL', problem), 'client');
      return Act.Drop;
    }
    this.timer.message();
    let sv = this._server;
    if (sv === undefined) {
      if (this.skipping) {
        if (type === F.Sync) {
          this.skipping = false;
          this.answerSync();
        }
        return Act.Drop;
      }
      switch (type) {
        case F.Sync:
          // Without a server everything before this Sync was answered here, outside any transaction.
          this.answerSync();
          return Act.Drop;
        case F.Flush:
        case F.CopyData:
        case F.CopyDone:
        case F.CopyFail:
          return Act.Drop; // nothing to flush or copy into without a server
        case F.Parse:
        case F.Close:
          return Act.Collect; // may be answered without a server (see message())
      }
      if (this._state === 'waiting') return Act.Hold;
      sv = this.take();
      if (sv === undefined) return Act.Hold;
    }
    if (sv.state === 'syncing') return Act.Hold;
    if (sv.skipping && type !== F.Sync) return Act.Drop;
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
      case F.FunctionCall:
        this.host.stats.queries++;
        sv.sent(type);
        return Act.Pass;
      default:
        sv.sent(type); // Execute, CopyDone, CopyFail; Flush and CopyData ask for nothing
        return Act.Pass;
    }
  }

  pass(buf: Buffer, start: number, end: number): void {
    this._server?.out.range(buf, start, end);
  }

  message(type: number, buf: Buffer, start: number, end: number): boolean {
    let sv = this._server;
    if (!sv) {
      if (this._state === 'closed') return true;
      if (type === F.Parse) {
        const r = this.prepared.parseWithoutServer(buf, start, end);
        if (r === NoServerParse.Duplicate) this.skipping = true;
        if (r !== NoServerParse.NeedsServer) return true;
      }
      if (type === F.Close) {
        this.prepared.closeWithoutServer(buf, start, end);
        return true;
      }
      if (this._state === 'waiting') return false;
      sv = this.take();
      if (sv === undefined) return false;
    }
    if (sv.state === 'syncing') return false;
    switch (type) {
      case F.Parse:
        this.prepared.parse(sv, buf, start, end);
        break;
      case F.Bind:
        this.prepared.bind(sv, buf, start, end);
        break;
      case F.Describe:
      case F.Close:
        this.prepared.describeOrClose(sv, type, buf, start, end);
        break;
      case F.Query:
        this.prepared.query(sv, buf, start, end);
        this.sentQuery(sv);
        break;
    }
    return true;
  }

  /** A free server now (attached), or undefined when the client was queued. */
  private take(): PooledServer | undefined {
    const sv = this.host.acquire(this);
    if (sv !== undefined) this.attach(sv);
    return sv;
  }

  private answerSync(): void {
    this.host.stats.queries++;
    this.out.push(READY_IDLE);
    this.timer.answeredLocally();
  }

  private sentQuery(sv: PooledServer): void {
    this.host.stats.queries++;
    this.prepared.simpleQuery();
    sv.sent(F.Query);
  }

  private protocolError(what: string): void {
    this.fail(new ClientError('CLIENT_PROTOCOL', `invalid ${what} message`), 'client');
  }


}

