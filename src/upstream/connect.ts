// Opens and logs in a server connection to a tenant's PostgreSQL with pg-protocol (startup and auth only; the relay never parses rows with it).
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import { ClientError, PgporterError } from '../errors.js';
import { AuthCode, SSL_REQUEST } from '../protocol/index.js';

export interface UpstreamTarget {
  host: string;
  port: number;
  tls: 'disable' | 'require' | 'verify-full';
  caFile?: string | undefined;
}

export interface ServerKey {
  pid: number;
  secret: number;
}

/** A logged-in server connection, ready for queries (the server last said ReadyForQuery 'I'). */
export interface ServerConnection {
  socket: Socket;
  /** ParameterStatus values the server reported during startup. */
  params: Map<string, string>;
  key: ServerKey;
  target: UpstreamTarget;
}

/**
 * Answers the server's authentication requests. `code` is the AuthenticationXXX subtype, `data` its payload
 * (md5 salt, SASL mechanism list or SASL data). Returns the framed message to send, or undefined when nothing is sent
 * (AuthenticationSASLFinal). Throws when the request cannot be met.
 */
export interface UpstreamAuthenticator {
  respond(code: number, data: Buffer): Promise<Buffer | undefined>;
}

/** The server refused or broke the login; `serverError` holds its ErrorResponse fields when it sent one. */
export class UpstreamError extends PgporterError {
  constructor(
    code: string,
    message: string,
    readonly serverError?: { severity?: string; code?: string; message: string; detail?: string; hint?: string },
    options?: { cause?: unknown },
  ) {
    super(code, code === 'UPSTREAM_REFUSED' ? 'server_refused' : 'server_unavailable', 'server', message, options);
  }

  /** Whether a retry may succeed (the server is starting, restarting or not yet listening). */
  get transient(): boolean {
    if (this.code === 'UPSTREAM_UNREACHABLE' || this.code === 'UPSTREAM_TIMEOUT') return true;
    const c = this.serverError?.code;
    return c === '57P03' || c === '53300';
  }
}

/** The ErrorResponse a client should see for an upstream failure: the server's own words when it refused. */
export function upstreamClientError(err: unknown): ClientError {
  if (err instanceof ClientError) return err;
  if (err instanceof UpstreamError && err.serverError && err.code === 'UPSTREAM_REFUSED') {
    const e = err.serverError;
    const ce = new ClientError(e.code === '28P01' ? 'AUTH_FAILED' : 'SERVER_UNAVAILABLE', e.message, {
      ...(e.detail !== undefined ? { detail: e.detail } : {}),
      ...(e.hint !== undefined ? { hint: e.hint } : {}),
    });
    // Keep the server's SQLSTATE: clients branch on it (28P01, 3D000 database does not exist, 57P03...).
    if (e.code) (ce as { sqlstate: string }).sqlstate = e.code;
    return ce;
  }
  if (err instanceof UpstreamError && err.code === 'UPSTREAM_TIMEOUT') {
    return new ClientError('SERVER_CONNECT_TIMEOUT', 'timed out connecting to the database server');
  }
  return new ClientError('SERVER_UNAVAILABLE', 'could not connect to the database server');
}

async function openSocket(target: UpstreamTarget, signal: AbortSignal): Promise<Socket> {
  const sock = netConnect({ host: target.host, port: target.port });
  sock.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      sock.destroy();
      reject(new UpstreamError('UPSTREAM_TIMEOUT', `timed out connecting to ${target.host}:${target.port}`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
    sock.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(new UpstreamError('UPSTREAM_UNREACHABLE', `cannot reach ${target.host}:${target.port}: ${err.message}`, undefined, { cause: err }));
    });
  });
  if (target.tls === 'disable') return sock;
  sock.write(SSL_REQUEST);
  const answer = await new Promise<string>((resolve, reject) => {
    sock.once('data', (d: Buffer) => resolve(d.toString('latin1', 0, 1)));
    sock.once('error', reject);
  });
  if (answer !== 'S') {
    sock.destroy();
    throw new UpstreamError('UPSTREAM_REFUSED', `server ${target.host}:${target.port} does not accept TLS`);
  }
  const tlsSock = tlsConnect({
    socket: sock,
    servername: /^[\d.:]+$/.test(target.host) ? undefined : target.host,
    rejectUnauthorized: target.tls === 'verify-full',
    ...(target.caFile ? { ca: readFileSync(target.caFile) } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    tlsSock.once('secureConnect', resolve);
    tlsSock.once('error', (err) => reject(new UpstreamError('UPSTREAM_UNREACHABLE', `TLS to ${target.host}:${target.port} failed: ${err.message}`)));
  });
  return tlsSock;
}

/**
 * Connects, sends the StartupMessage with `params` (user, database, application_name, ...), answers
 * authentication through `auth`, and resolves at the first ReadyForQuery.
 */
export async function connectUpstream(
  target: UpstreamTarget,
  params: Record<string, string>,
  auth: UpstreamAuthenticator,
  timeoutMs: number,
): Promise<ServerConnection> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  let socket: Socket | undefined;
  try {
    socket = await openSocket(target, ac.signal);
    return await login(socket, target, params, auth, ac.signal);
  } catch (err) {
    socket?.destroy();
    if (ac.signal.aborted && !(err instanceof UpstreamError && err.code === 'UPSTREAM_REFUSED')) {
      throw new UpstreamError('UPSTREAM_TIMEOUT', `timed out connecting to ${target.host}:${target.port}`, undefined, { cause: err });
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

type ParsedMessage = { name: string; [k: string]: unknown };

function login(socket: Socket, target: UpstreamTarget, params: Record<string, string>, auth: UpstreamAuthenticator, signal: AbortSignal): Promise<ServerConnection> {
  return new Promise<ServerConnection>((resolve, reject) => {
    const parser = new Parser();
    const serverParams = new Map<string, string>();
    let key: ServerKey = { pid: 0, secret: 0 };
    let queue: Promise<void> = Promise.resolve();
    let settled = false;

    const finish = (err: Error | undefined, conn?: ServerConnection) => {
      if (settled) return;
      settled = true;
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else {
        socket.pause();
        resolve(conn!);
      }
    };
    const onError = (err: Error) => finish(new UpstreamError('UPSTREAM_UNREACHABLE', `server connection failed: ${err.message}`, undefined, { cause: err }));
    const onClose = () => finish(new UpstreamError('UPSTREAM_UNREACHABLE', 'server closed the connection during login'));
    const onAbort = () => finish(new UpstreamError('UPSTREAM_TIMEOUT', `timed out logging in to ${target.host}:${target.port}`));

    const respond = (code: number, data: Buffer) => {
      // Auth steps may be async (deriving keys, asking the client); keep them in order.
      queue = queue
        .then(() => auth.respond(code, data))
        .then((out) => {
          if (out && !settled) socket.write(out);
        })
        .catch((err: unknown) => finish(err instanceof Error ? err : new Error(String(err))));
    };

    const onMessage = (msg: ParsedMessage) => {
      switch (msg.name) {
        case 'authenticationOk':
          return;
        case 'authenticationCleartextPassword':
          return respond(AuthCode.CleartextPassword, Buffer.alloc(0));
        case 'authenticationMD5Password':
          return respond(AuthCode.MD5Password, msg.salt as Buffer);
        case 'authenticationSASL':
          return respond(AuthCode.SASL, Buffer.from((msg.mechanisms as string[]).join('\0'), 'utf8'));
        case 'authenticationSASLContinue':
          return respond(AuthCode.SASLContinue, Buffer.from(msg.data as string, 'utf8'));
        case 'authenticationSASLFinal':
          return respond(AuthCode.SASLFinal, Buffer.from(msg.data as string, 'utf8'));
        case 'parameterStatus':
          serverParams.set(msg.parameterName as string, msg.parameterValue as string);
          return;
        case 'backendKeyData':
          key = { pid: msg.processID as number, secret: msg.secretKey as number };
          return;
        case 'readyForQuery':
          // Wait for any auth step still running (SASLFinal verification) before declaring success.
          queue.then(() => finish(undefined, { socket, params: serverParams, key, target }));
          return;
        case 'error': {
          const e = msg as unknown as { severity?: string; code?: string; message: string; detail?: string; hint?: string };
          finish(new UpstreamError('UPSTREAM_REFUSED', `server refused login: ${e.message}`, e));
          return;
        }
        default:
          return; // notices and NegotiateProtocolVersion need no answer
      }
    };
    const onData = (chunk: Buffer) => {
      try {
        parser.parse(chunk, onMessage as never);
      } catch (err) {
        finish(new UpstreamError('UPSTREAM_PROTOCOL', `unparseable message from server: ${(err as Error).message}`));
      }
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.write(serialize.startup(params));
  });
}
