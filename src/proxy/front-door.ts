// One client connection's path through the front door: PROXY header, startup/TLS, tenant, ban check, allowlist, then the backend.
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { Config } from '../config/index.js';
import { ClientError, PgporterError, toClientError } from '../errors.js';
import { FieldLog, SessionLog, type LogLike, type Logger, type Metrics, type TenantConnections } from '../observability/index.js';
import type { Admission, Backend, ClientSession, ServedSession, SessionDone, SessionEnd } from '../pool/index.js';
import type { TenantRecord } from '../store/index.js';
import { directClient, readProxyHeader, type ProxyResult } from './proxy-header-reader.js';
import { describeTlvs } from './proxy-header-decode.js';
import { negotiateStartup } from './startup.js';
import { resolveTenant, type TenantLookup } from './tenant-resolve.js';
import type { SessionRegistry } from './session-registry.js';
import { authenticateClient, type AuthTarget } from './authenticate.js';
import type { PacketReader } from './packet-reader.js';
import type { CancelRouter } from './cancel-router.js';
import type { CredentialSource, UpstreamSecret } from '../auth/index.js';
import type { OpenSession } from './session-registry.js';
import { loginDeadlines } from './janitor.js';
import { intern } from './intern.js';
import { tuneAccepted } from './socket-options.js';

/** Decides whether a client address may reach a tenant; undefined means allowed. */
export interface AccessCheck {
  check(tenant: TenantRecord, clientIp: string): ClientError | undefined;
}

/** Failed-login bans (src/netrules/bans.ts): a synchronous check, and the count of a failed login. */
export interface BanCheck {
  check(tenant: TenantRecord, clientIp: string): ClientError | undefined;
  recordFailure(tenant: TenantRecord, clientIp: string): void;
}

/** A logged-in admin console connection, handed over instead of a pool session. */
export interface ConsoleConnection {
  readonly socket: Socket;
  readonly reader: PacketReader;
  readonly user: string;
  readonly clientIp: string;
  readonly tls: boolean;
  readonly log: LogLike;
}

/**
 * The admin console (src/console): connections whose database it claims skip tenant resolution; the console's own
 * allowlist is checked against the real client address, and its own users log in (SCRAM) before it serves them.
 */
export interface ConsoleDoor {
  handles(database: string): boolean;
  check(clientIp: string): ClientError | undefined;
  readonly authTarget: AuthTarget;
  readonly credentials: CredentialSource;
  /** Serves the session to its end; resolves with who ended it. */
  serve(conn: ConsoleConnection): Promise<{ endedBy: 'client' | 'pgporter'; reason: string }>;
}

export interface FrontDoorDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  tenants: TenantLookup;
  access: AccessCheck;
  bans: BanCheck;
  backend: Backend;
  credentials: CredentialSource;
  sessions: SessionRegistry;
  secureContext: SecureContext | undefined;
  cancels: CancelRouter;
  isTrustedProxy(ip: string): boolean;
  /** Absent, or without console users: no database name is special. */
  console?: ConsoleDoor | undefined;
  /** Accepted sockets inherit TCP_NODELAY and keepalive from the listener (tuneListener): nothing to set per socket. */
  listenerTuned?: boolean;
}

let nextSessionId = 1;

/** The startup parameters of a client that sent none but user and database; never written to (sessions read theirs). */
const NO_PARAMS: ReadonlyMap<string, string> = new Map();

/** Sends the error as an ErrorResponse on whatever layer the client is speaking (TLS or plain), then closes. */
function refuse(socket: Socket, err: ClientError, greeting?: Buffer): void {
  if (socket.destroyed) return;
  if (greeting !== undefined) socket.write(greeting);
  socket.end(err.toErrorResponse());
  // A client that never reads must not hold the socket open.
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** Errors are observed by the stage that reads; this keeps a late one from crashing us. */
function ignore(): void {}

/**
 * A logged-in client handed to the backend: what the backend needs (ClientSession), what an allowlist edit or a
 * deleted tenant needs to end it (OpenSession), and what its closing line and counters need. The only per-session
 * record the front door keeps; no closure, no suspended frame.
 */
class FrontSession extends FieldLog implements ClientSession, OpenSession, SessionDone {
  readonly id = nextSessionId++;
  greeting: Buffer | undefined;
  /** What the backend serves, while it does: end() goes through it. */
  private served: ServedSession | undefined;

  constructor(
    private readonly deps: FrontDoorDeps,
    readonly socket: Socket,
    public reader: PacketReader | undefined,
    readonly tenant: TenantRecord,
    readonly user: string,
    readonly database: string,
    readonly params: ReadonlyMap<string, string>,
    readonly clientIp: string,
    private readonly peer: string | undefined,
    private readonly clientPort: number | undefined,
    readonly tls: boolean,
    readonly secret: UpstreamSecret,
    private readonly counters: TenantConnections,
    private readonly acceptedAt: number,
    /** Cleared when released: a session releases its admission once, whatever ends it. */
    private admission: Admission | undefined,
  ) {
    super();
  }

  /** The session is its own log (no SessionLog and fields object per session): the fields the login ended with. */
  get log(): LogLike {
    return this;
  }

  protected logRoot(): Logger {
    return this.deps.logger;
  }

  protected logFields(): Readonly<Record<string, unknown>> {
    return { peer: this.peer, client: this.clientIp, clientPort: this.clientPort, tenant: this.tenant.id, user: this.user };
  }

  get tenantId(): string {
    return this.tenant.id;
  }

  end(err: ClientError): void {
    this.log.info({ event: 'ended', reason: err.kind }, `session ended by pgporter: ${err.message}`);
    // Through the backend, which ends it between two messages; a socket write here could land inside a DataRow.
    const served = this.served;
    if (served !== undefined) served.fail(err);
    else refuse(this.socket, err);
  }

  /** Starts serving; the frame that logged the client in returns, and ended() or failed() finish the session. */
  serve(): void {
    this.deps.sessions.add(this);
    // A session refused at once has left() inside serve() and gets undefined back.
    this.served = this.deps.backend.serve(this, this);
  }

  ended(end: SessionEnd): void {
    this.left();
    const c = this.counters;
    c.bytesFromClient += end.bytesFromClient;
    c.bytesToClient += end.bytesToClient;
    this.log.info(
      { event: 'closed', endedBy: end.endedBy, reason: end.reason, durationMs: Date.now() - this.acceptedAt, bytesFromClient: end.bytesFromClient, bytesToClient: end.bytesToClient },
      `connection closed by ${end.endedBy}: ${end.reason}`,
    );
  }

  /** The login failed after all (a setting a server refused, pgporter draining): refused like any other. */
  failed(err: unknown): void {
    this.left();
    const ce = toClientError(err);
    if (ce.code === 'INTERNAL') this.log.error({ err }, 'internal error handling connection');
    this.deps.metrics.connectionsRefused.inc({ reason: ce.kind, tenant: this.tenant.id });
    this.log.info({ event: 'refused', reason: ce.kind, code: ce.code, sqlstate: ce.sqlstate, durationMs: Date.now() - this.acceptedAt }, `connection refused: ${ce.message}`);
    refuse(this.socket, ce, this.greeting);
  }

  private left(): void {
    this.served = undefined;
    this.deps.sessions.delete(this);
    this.counters.active--;
    const admission = this.admission;
    this.admission = undefined;
    admission?.release();
  }
}

/**
 * Handles one accepted TCP connection until it is logged in and handed to the backend (or refused); never throws.
 * The session itself goes on in a FrontSession, so an idle client keeps none of this function's state.
 */
export async function handleConnection(raw: Socket, deps: FrontDoorDeps): Promise<void> {
  const { config, metrics } = deps;
  const acceptedAt = Date.now();
  const peer = raw.remoteAddress === undefined ? undefined : intern(raw.remoteAddress);
  // Fields, not a pino child: nothing is built for a connection unless it writes a line.
  const log = new SessionLog(deps.logger, { peer });
  let tenantId = '';
  let clientSocket: Socket = raw;
  let admission: Admission | undefined;
  if (!deps.listenerTuned) tuneAccepted(raw);
  raw.on('error', ignore);
  let timedOut = false;
  const startupTimer = {
    due: acceptedAt + config.startup.timeout + (config.proxyProtocol.mode === 'off' ? 0 : config.proxyProtocol.headerTimeout),
    expire: () => {
      timedOut = true;
      log.info({ event: 'refused', reason: 'startup_timeout', code: 'STARTUP_TIMEOUT', sqlstate: '08P01' }, 'connection refused: startup did not complete in time');
      metrics.connectionsRefused.inc({ reason: 'startup_timeout', tenant: tenantId });
      refuse(clientSocket, new ClientError('STARTUP_TIMEOUT', 'canceling authentication due to timeout'));
    },
  };
  loginDeadlines.add(startupTimer);
  try {
    // Without PROXY protocol the client is the peer: known at once, no promise to wait for.
    let proxy: ProxyResult;
    if (config.proxyProtocol.mode === 'off') {
      const direct = directClient(raw);
      if (direct instanceof PgporterError) throw direct;
      proxy = direct;
    } else {
      proxy = await readProxyHeader(raw, { mode: config.proxyProtocol.mode, isTrusted: deps.isTrustedProxy, timeoutMs: config.proxyProtocol.headerTimeout });
    }
    if (proxy.local) {
      if (proxy.header) metrics.proxyHeaders.inc({ version: String(proxy.header.version), family: 'local' });
      log.debug({ event: 'health_check' }, 'PROXY LOCAL health check');
      loginDeadlines.delete(startupTimer);
      raw.end();
      return;
    }
    // Node caches the peer address on the socket ({ address, family, port }, about 100 bytes with its strings) and
    // asks the kernel again if it is read once more; pgporter has read it (peer, proxy) and keeps its own interned copy.
    (raw as { _peername?: unknown })._peername = undefined;
    if (proxy.header) metrics.proxyHeaders.inc({ version: String(proxy.header.version), family: proxy.header.family });
    const clientIp = intern(proxy.clientAddress);
    const where = { peer, client: clientIp, clientPort: proxy.clientPort };
    log.fields = where;
    if (proxy.header && proxy.header.tlvs.length) log.debug({ tlvs: describeTlvs(proxy.header.tlvs) }, 'PROXY header TLVs');

    const st = await negotiateStartup(raw, proxy.rest, { maxPacketSize: config.startup.maxPacketSize, secureContext: deps.secureContext });
    if (st.kind === 'cancel') {
      loginDeadlines.delete(startupTimer);
      deps.cancels.route(st.key.pid, st.key.secret, clientIp, log);
      raw.destroy();
      return;
    }
    clientSocket = st.socket;
    const door = deps.console;
    if (door?.handles(st.params.get('database') ?? st.params.get('user')!)) {
      // The console database: no tenant, the console's own allowlist and users.
      const user = st.params.get('user')!;
      log.fields = { peer, client: clientIp, clientPort: proxy.clientPort, console: true, user };
      if (!st.tls && config.tls.requireTls) throw new ClientError('TLS_REQUIRED', 'connection without TLS is not allowed', { hint: 'Connect with sslmode=require.' });
      const denied = door.check(clientIp);
      if (denied) throw denied;
      loginDeadlines.delete(startupTimer);
      await authenticateClient(clientSocket, st.reader, door.authTarget, user, door.credentials, log);
      log.info({ event: 'accepted', tls: st.tls, database: st.params.get('database') }, 'console connection accepted');
      const end = await door.serve({ socket: clientSocket, reader: st.reader, user, clientIp, tls: st.tls, log });
      log.info({ event: 'closed', endedBy: end.endedBy, reason: end.reason, durationMs: Date.now() - acceptedAt }, `console connection closed by ${end.endedBy}: ${end.reason}`);
      return;
    }
    const { tenant, user, via } = resolveTenant(deps.tenants, st.params.get('user')!, st.servername);
    tenantId = tenant.id;
    // A literal, not `{ ...where, ... }`: a spread's result got a hidden class of its own per connection (about 260
    // bytes of map and descriptors per idle client); every literal of these keys shares one.
    log.fields = { peer, client: clientIp, clientPort: proxy.clientPort, tenant: tenant.id, user };
    if (!st.tls && (tenant.requireTls ?? config.tls.requireTls)) {
      throw new ClientError('TLS_REQUIRED', `connection without TLS is not allowed for tenant "${tenant.id}"`, { hint: 'Connect with sslmode=require.' });
    }
    // A banned address is refused before anything else is spent on it (allowlist, admission, authentication, wake).
    const banned = deps.bans.check(tenant, clientIp);
    if (banned) throw banned;
    const denied = deps.access.check(tenant, clientIp);
    if (denied) throw denied;
    const admitted = deps.backend.admit(tenant);
    if (admitted instanceof ClientError) throw admitted;
    admission = admitted;

    loginDeadlines.delete(startupTimer);
    let greeting: Buffer | undefined;
    const secret = await authenticateClient(clientSocket, st.reader, tenant, user, deps.credentials, log, {
      onFailure: () => deps.bans.recordFailure(tenant, clientIp),
      refusal: () => deps.bans.check(tenant, clientIp),
      greeting: (reply) => (greeting = reply),
    });
    const database = st.params.get('database') ?? user;
    // Many clients send nothing else: they share one empty map instead of each keeping a hash table (about 180 bytes).
    let params = NO_PARAMS;
    if (st.params.size > (st.params.has('user') ? 1 : 0) + (st.params.has('database') ? 1 : 0)) {
      const asked = new Map(st.params);
      asked.delete('user');
      asked.delete('database');
      params = asked;
    }
    const counters = metrics.tenant(tenant.id);
    counters.accepted++;
    counters.active++;
    log.info({ event: 'accepted', tls: st.tls, via, database, application: params.get('application_name') }, 'connection accepted');
    const session = new FrontSession(deps, clientSocket, st.reader, tenant, user, database, params, clientIp, peer, proxy.clientPort, st.tls, secret, counters, acceptedAt, admitted);
    session.greeting = greeting;
    // From here the session owns the admission.
    admission = undefined;
    // The startup reader (until the relay starts) and then the pool client listen for errors on this socket.
    if (clientSocket === raw) raw.off('error', ignore);
    session.serve();
  } catch (err) {
    loginDeadlines.delete(startupTimer);
    admission?.release();
    // The timeout already refused the client and logged it; what failed afterwards is the closing socket.
    if (timedOut) {
      raw.destroy();
      return;
    }
    if (err instanceof PgporterError && err.code === 'CLIENT_GONE') {
      log.info({ event: 'closed', endedBy: 'client', reason: err.message, durationMs: Date.now() - acceptedAt }, 'client left during startup');
      raw.destroy();
      return;
    }
    const ce = toClientError(err);
    let socket = (err as { socket?: Socket }).socket ?? clientSocket;
    if (ce.code === 'PROXY_HEADER_MISSING' || (ce.code === 'PROXY_HEADER_UNTRUSTED' && config.proxyProtocol.mode === 'required')) {
      socket = await startupForRefusal(raw, (err as { rest?: Buffer }).rest ?? Buffer.alloc(0), deps);
    }
    if (ce.code === 'INTERNAL') log.error({ err }, 'internal error handling connection');
    metrics.connectionsRefused.inc({ reason: ce.kind, tenant: tenantId });
    log.info({ event: 'refused', reason: ce.kind, code: ce.code, sqlstate: ce.sqlstate, durationMs: Date.now() - acceptedAt }, `connection refused: ${ce.message}`);
    refuse(socket, ce);
  }
}

/**
 * A direct client (no PROXY header) is usually a Postgres client: finish its SSL negotiation and read its
 * StartupMessage so the refusal arrives where libpq prints it, instead of "error response during SSL exchange".
 */
async function startupForRefusal(raw: Socket, rest: Buffer, deps: FrontDoorDeps): Promise<Socket> {
  try {
    const st = await negotiateStartup(raw, rest, { maxPacketSize: deps.config.startup.maxPacketSize, secureContext: deps.secureContext });
    if (st.kind === 'startup') {
      st.reader.detach();
      return st.socket;
    }
    return raw;
  } catch (err) {
    return (err as { socket?: Socket }).socket ?? raw;
  }
}
