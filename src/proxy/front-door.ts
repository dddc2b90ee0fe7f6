// One client connection's path through the front door: PROXY header, startup/TLS, tenant, ban check, allowlist, then the backend.
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { Config } from '../config/index.js';
import { ClientError, PgporterError, toClientError } from '../errors.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { Backend } from '../pool/index.js';
import type { TenantRecord } from '../store/index.js';
import { readProxyHeader } from './proxy-header-reader.js';
import { describeTlvs } from './proxy-header-decode.js';
import { negotiateStartup } from './startup.js';
import { resolveTenant, type TenantLookup } from './tenant-resolve.js';
import type { SessionRegistry } from './session-registry.js';
import { authenticateClient, type AuthTarget } from './authenticate.js';
import type { PacketReader } from './packet-reader.js';
import type { CancelRouter } from './cancel-router.js';
import type { CredentialSource } from '../auth/index.js';

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
  readonly log: Logger;
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
}

let nextSessionId = 1;

/** Sends the error as an ErrorResponse on whatever layer the client is speaking (TLS or plain), then closes. */
function refuse(socket: Socket, err: ClientError): void {
  if (socket.destroyed) return;
  socket.end(err.toErrorResponse());
  // A client that never reads must not hold the socket open.
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** Handles one accepted TCP connection to its end; never throws. */
export async function handleConnection(raw: Socket, deps: FrontDoorDeps): Promise<void> {
  const { config, metrics } = deps;
  const acceptedAt = Date.now();
  // Each stage's logger is a child of the root with every binding so far, never a child of the previous one: a pino
  // child keeps its parent alive, so a chain would keep every stage's logger for the whole connection.
  const peer = raw.remoteAddress;
  let log = deps.logger.child({ peer });
  let tenantId = '';
  let clientSocket: Socket = raw;
  let releaseAdmission: (() => void) | undefined;
  raw.setNoDelay(true);
  // A client that vanished without a FIN (NAT timeout, dead host) is found by keepalive probes instead of never.
  raw.setKeepAlive(true, 60_000);
  raw.on('error', () => {}); // errors are observed by the stage that reads; this keeps a late one from crashing us
  let timedOut = false;
  const startupTimer = setTimeout(() => {
    timedOut = true;
    log.info({ event: 'refused', reason: 'startup_timeout', code: 'STARTUP_TIMEOUT', sqlstate: '08P01' }, 'connection refused: startup did not complete in time');
    metrics.connectionsRefused.inc({ reason: 'startup_timeout', tenant: tenantId });
    refuse(clientSocket, new ClientError('STARTUP_TIMEOUT', 'canceling authentication due to timeout'));
  }, config.startup.timeout + (config.proxyProtocol.mode === 'off' ? 0 : config.proxyProtocol.headerTimeout));
  startupTimer.unref();
  try {
    const proxy = await readProxyHeader(raw, {
      mode: config.proxyProtocol.mode,
      isTrusted: deps.isTrustedProxy,
      timeoutMs: config.proxyProtocol.headerTimeout,
    });
    if (proxy.local) {
      if (proxy.header) metrics.proxyHeaders.inc({ version: String(proxy.header.version), family: 'local' });
      log.debug({ event: 'health_check' }, 'PROXY LOCAL health check');
      raw.end();
      return;
    }
    if (proxy.header) metrics.proxyHeaders.inc({ version: String(proxy.header.version), family: proxy.header.family });
    const clientIp = proxy.clientAddress;
    const where = { peer, client: clientIp, clientPort: proxy.clientPort };
    log = deps.logger.child(where);
    if (proxy.header && proxy.header.tlvs.length) log.debug({ tlvs: describeTlvs(proxy.header.tlvs) }, 'PROXY header TLVs');

    const st = await negotiateStartup(raw, proxy.rest, { maxPacketSize: config.startup.maxPacketSize, secureContext: deps.secureContext });
    if (st.kind === 'cancel') {
      deps.cancels.route(st.key.pid, st.key.secret, clientIp, log);
      raw.destroy();
      return;
    }
    clientSocket = st.socket;
    const door = deps.console;
    if (door?.handles(st.params.get('database') ?? st.params.get('user')!)) {
      // The console database: no tenant, the console's own allowlist and users.
      const user = st.params.get('user')!;
      log = deps.logger.child({ ...where, console: true, user });
      if (!st.tls && config.tls.requireTls) throw new ClientError('TLS_REQUIRED', 'connection without TLS is not allowed', { hint: 'Connect with sslmode=require.' });
      const denied = door.check(clientIp);
      if (denied) throw denied;
      clearTimeout(startupTimer);
      await authenticateClient(clientSocket, st.reader, door.authTarget, user, door.credentials, log);
      log.info({ event: 'accepted', tls: st.tls, database: st.params.get('database') }, 'console connection accepted');
      const end = await door.serve({ socket: clientSocket, reader: st.reader, user, clientIp, tls: st.tls, log });
      log.info({ event: 'closed', endedBy: end.endedBy, reason: end.reason, durationMs: Date.now() - acceptedAt }, `console connection closed by ${end.endedBy}: ${end.reason}`);
      return;
    }
    const { tenant, user, via } = resolveTenant(deps.tenants, st.params.get('user')!, st.servername);
    tenantId = tenant.id;
    log = deps.logger.child({ ...where, tenant: tenant.id, user });
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
    releaseAdmission = admitted.release;

    clearTimeout(startupTimer);
    const secret = await authenticateClient(clientSocket, st.reader, tenant, user, deps.credentials, log, {
      onFailure: () => deps.bans.recordFailure(tenant, clientIp),
      refusal: () => deps.bans.check(tenant, clientIp),
    });
    const params = new Map(st.params);
    params.delete('user');
    const database = params.get('database') ?? user;
    params.delete('database');
    metrics.connectionsAccepted.inc({ tenant: tenant.id });
    metrics.connectionsActive.inc({ tenant: tenant.id });
    log.info({ event: 'accepted', tls: st.tls, via, database, application: params.get('application_name') }, 'connection accepted');
    const session = {
      id: nextSessionId++,
      socket: clientSocket,
      reader: st.reader,
      tenant,
      user,
      database,
      params,
      clientIp,
      tls: st.tls,
      log,
      secret,
    };
    const open = {
      tenantId: tenant.id,
      clientIp,
      end: (err: ClientError) => {
        log.info({ event: 'ended', reason: err.kind }, `session ended by pgporter: ${err.message}`);
        // Through the backend, which ends it between two messages; a socket write here could land inside a DataRow.
        if (!deps.backend.endSession(session.id, err)) refuse(clientSocket, err);
      },
    };
    deps.sessions.add(open);
    try {
      const end = await deps.backend.serve(session);
      metrics.bytesFromClient.inc({ tenant: tenant.id }, end.bytesFromClient);
      metrics.bytesToClient.inc({ tenant: tenant.id }, end.bytesToClient);
      log.info(
        { event: 'closed', endedBy: end.endedBy, reason: end.reason, durationMs: Date.now() - acceptedAt, bytesFromClient: end.bytesFromClient, bytesToClient: end.bytesToClient },
        `connection closed by ${end.endedBy}: ${end.reason}`,
      );
    } finally {
      deps.sessions.delete(open);
      metrics.connectionsActive.dec({ tenant: tenant.id });
    }
  } catch (err) {
    clearTimeout(startupTimer);
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
  } finally {
    releaseAdmission?.();
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
