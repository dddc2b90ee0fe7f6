// One pooled client connection: its state, its socket and its lifecycle (the login's end, taking and giving back servers, the end of its session); its messages are handled in client-messages.ts.
// Message formats: https://www.postgresql.org/docs/current/protocol-message-formats.html
import type { Socket } from 'node:net';
import { ClientError } from '../errors.js';
import { MAX_FRONTEND_MESSAGE, loginEnd, noticeResponse, parameterStatus } from '../protocol/index.js';
import type { ClientSession, SessionDone, SessionEnd } from './types.js';
import type { ServerKey, UpstreamTarget } from '../upstream/index.js';
import { type Act, Framer, FramingError, type FrameSink } from './framer.js';
import { Outbox } from './outbox.js';
import type { PooledServer } from './server.js';
import { ClientStatements, type StatementOwner } from './client-statements.js';
import { ClientSettings, settingRefused } from './client-settings.js';
import { TransactionTimer } from './latency.js';
import type { ErrorFieldMap } from './error-fields.js';
import type { ClientHost, ServerPeer } from './seams.js';
import { READY_IDLE, clientHeader, clientMessage } from './client-messages.js';
import { CLIENT_NEXT, type ClientState } from './conn-states.js';
import { listenTo, stopListening } from './client-socket.js';

/** How long an ending session waits for a server message being forwarded to finish before it just closes. */
const END_WAIT_MS = 5000;

const EMPTY = Buffer.alloc(0);

export class PoolClient implements FrameSink, ServerPeer, StatementOwner {
  private _state: ClientState = 'starting';
  private _server: PooledServer | undefined;
  readonly socket: Socket;
  readonly out: Outbox;
  /** Made when the client first sends something: an idle client never needs one. */
  private _framer: Framer | undefined;
  /** Its settings: asked for at startup, wanted on every server, told in ParameterStatus. */
  readonly settings = new ClientSettings();
  /** Made when the client first uses the extended protocol. */
  private _prepared: ClientStatements | undefined;
  /** An error pgporter answered itself, without a server: everything up to Sync is ignored, as the server would. */
  skipping = false;
  /** Draining: the session ends with this error at its next transaction boundary. */
  private drainErr: ClientError | undefined;
  /** An end waiting for the server message being forwarded to finish (never cut a DataRow in half). */
  private pendingEnd: { err: ClientError; endedBy: SessionEnd['endedBy'] } | undefined;
  lastActive: number;
  waitingSince = 0;
  /** Made at the client's first message: an idle client never needs one (nor its two boxed timestamps). */
  private _timer: TransactionTimer | undefined;
  /** Paused because the server's socket is full. */
  private serverFull = false;
  /** Waiting for a server to confirm its startup settings (or to learn the pool's parameters) before the login ends. */
  private startup = false;
  private readonly bytesRead0: number;
  private readonly bytesWritten0: number;
  private settle: SessionDone | undefined;
  /** When the backend started serving it (SHOW CLIENTS connect_time), epoch ms. */
  readonly servedSince = Date.now();
  /** pgporter's BackendKeyData for this client (two small integers, no object per client). */
  keyPid = 0;
  keySecret = 0;

  constructor(
    readonly session: ClientSession,
    readonly host: ClientHost,
  ) {
    this.socket = session.socket;
    this.out = new Outbox(this.socket);
    this.lastActive = host.clock.now;
    this.bytesRead0 = this.socket.bytesRead;
    this.bytesWritten0 = this.socket.bytesWritten;
  }

  get timer(): TransactionTimer {
    return (this._timer ??= new TransactionTimer());
  }

  get framer(): Framer {
    return (this._framer ??= new Framer(this, 'client', MAX_FRONTEND_MESSAGE));
  }

  /** What this client prepared, and the messages that use it. */
  get prepared(): ClientStatements {
    return (this._prepared ??= new ClientStatements(this));
  }

  // --- CancelRoute: what a CancelRequest with this client's key reaches ---

  get tenantId(): string {
    return this.session.tenant.id;
  }

  current(): { target: UpstreamTarget; key: ServerKey } | undefined {
    const s = this._server;
    return s ? { target: s.target, key: s.key } : undefined;
  }

  // --- StatementOwner ---

  /** The client's search_path, hashed into server-side names. */
  searchPath(): string {
    return this.settings.want.get('search_path') ?? '';
  }

  isValidStatement(serverName: string): boolean {
    return this.host.isValidStatement(serverName);
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
    if (!CLIENT_NEXT[this._state].includes(next)) throw new Error(`client: illegal transition ${this._state} -> ${next}`);
    this._state = next;
  }

  /**
   * Runs the session: the login's end (ParameterStatus set, `key` as BackendKeyData, ReadyForQuery), then the relay
   * until the client leaves. `settle` hears how it ended: resolve with the end, or reject with the ClientError the
   * login failed with (nothing sent yet). A pool that knows its parameters and has seen these settings accepted
   * needs no server first, and the client is ready at once (no promise, no timer).
   */
  run(key: { pid: number; secret: number }, settle: SessionDone): void {
    this.keyPid = key.pid;
    this.keySecret = key.secret;
    this.settle = settle;
    try {
      this.settings.parseStartup(this.session.params);
    } catch (err) {
      this.setState('closed');
      this.ended();
      settle.failed(err as ClientError);
      return;
    }
    // A server is needed first when the pool does not yet know a server's parameters (so the client sees the
    // ParameterStatus set a direct connection would show) or when a startup setting has not been accepted by a server
    // yet: PostgreSQL refuses a login with a bad setting, and so does pgporter.
    if (this.host.defaults === undefined || this.host.unconfirmedSettings(this.settings.startup)) {
      this.startup = true;
      // The wait may be long (a wake sends notices meanwhile): the client hears that it authenticated first.
      const g = this.session.greeting;
      if (g !== undefined) {
        this.session.greeting = undefined;
        this.out.push(g);
        this.out.flush();
      }
      const s = this.host.acquire(this);
      if (s) this.attach(s);
      return;
    }
    this.settings.fill(this.host.defaults);
    this.settings.startupDone();
    this.loggedIn();
  }

  /** The login is over: ready for queries. */
  private loggedIn(): void {
    // Session mode keeps the server it logged in with; transaction mode gives it back until the first query.
    if (this._server && this.host.mode === 'transaction') this.detach(true);
    if (this._state === 'starting') this.setState('idle');
    if (this._state === 'closed') return;
    this.start();
  }

  /** Sends the ParameterStatus set, pgporter's BackendKeyData and ReadyForQuery, then relays until the client leaves. */
  private start(): void {
    const params = this.settings.hello(this.host.defaults);
    const greeting = this.session.greeting;
    if (greeting !== undefined) this.session.greeting = undefined;
    this.out.push(loginEnd(greeting, params, this.keyPid, this.keySecret));
    const s = this.socket;
    // The startup reader lets go first: its 'end' listener gone before ours comes, the socket's 'end' list is a
    // two-entry array, not one grown to twenty slots by a third entry pushed for a moment (176 bytes per idle client).
    const reader = this.session.reader;
    this.session.reader = undefined;
    const pending = reader === undefined ? EMPTY : reader.detach(true);
    listenTo(s, this);
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
    if (sv === undefined || this.startup || (sv.clean && !this.midMessage)) this.fail(err);
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
    if (this.drainErr && !this.midMessage) return this.fail(this.drainErr);
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

  exchangeEnded(): void {
    this.out.push(READY_IDLE);
    this.readyForQuery(true, false);
    this.flush();
    this.detach(false);
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
    if (this.drainErr && !this.midMessage) this.fail(this.drainErr);
  }

  atBoundary(): void {
    const end = this.pendingEnd;
    if (end === undefined) return;
    this.pendingEnd = undefined;
    this.out.push(end.err.toErrorResponse());
    this.finish(end.endedBy, end.err.message);
  }

  /** Half-way through a message from the client (none before it sent anything). */
  get midMessage(): boolean {
    return this._framer !== undefined && this._framer.midMessage;
  }

  // --- socket side (through the shared listeners of client-socket.ts) ---

  data(chunk: Buffer): void {
    this.lastActive = this.host.clock.now;
    this.feed(chunk);
  }

  drained(): void {
    const sv = this._server;
    if (sv && sv.clientFull) {
      sv.clientFull = false;
      sv.socket.resume();
    }
  }

  gone(reason: string): void {
    this.finish('client', reason);
  }

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
    if (this._framer?.holding) {
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
    this.startup = false;
    const st = this.settle!;
    if (err === undefined) {
      this.host.settingsConfirmed(this.settings.startup);
      this.settings.startupDone();
      // Later, not inside the server's reply being processed (the server may be handed back on the way).
      queueMicrotask(() => this.loggedIn());
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
    this.ended();
    st.failed(err);
  }

  /** Tells the pool once that this client is gone. */
  private ended(): void {
    if (this.settle === undefined) return;
    this.settle = undefined;
    this.host.clientEnded(this);
  }

  /** `terminated`: the client said goodbye (Terminate) and will read nothing more. */
  finish(endedBy: SessionEnd['endedBy'], reason: string, terminated = false): void {
    if (this._state === 'closed') return;
    const wasWaiting = this._state === 'waiting';
    this.setState('closed');
    this.pendingEnd = undefined;
    // A client gone half-way through a message left the server a partial one: that server cannot be reused.
    const clientMidMessage = this.midMessage;
    this._framer?.halt();
    if (wasWaiting) this.host.cancelWait(this);
    const sv = this._server;
    if (sv) {
      this._server = undefined;
      sv.unbind();
      this.host.checkin(sv, sv.clean && !clientMidMessage);
    }
    this.out.flush();
    const s = this.socket;
    stopListening(s);
    if (terminated && s.writableLength === 0) {
      // Everything is with the kernel and the client reads no more: close now (no shutdown, no fallback timer).
      s.destroy();
    } else {
      s.end();
      setTimeout(() => s.destroy(), 2000).unref();
    }
    const st = this.settle;
    this.ended();
    st?.ended({
      endedBy,
      reason,
      bytesFromClient: s.bytesRead - this.bytesRead0,
      bytesToClient: s.bytesWritten - this.bytesWritten0,
    });
  }

  // --- FrameSink: the client's messages (handled in client-messages.ts) ---

  header(type: number, length: number): Act {
    return clientHeader(this, type, length);
  }

  pass(buf: Buffer, start: number, end: number): void {
    this._server?.out.range(buf, start, end);
  }

  message(type: number, buf: Buffer, start: number, end: number): boolean {
    return clientMessage(this, type, buf, start, end);
  }

  protocolError(what: string): void {
    this.fail(new ClientError('CLIENT_PROTOCOL', `invalid ${what} message`), 'client');
  }
}

