// pgporter's one login to a tenant's PostgreSQL (pool servers and authQuery sessions alike): socket with the tenant's TLS, StartupMessage, a verified authentication, then ReadyForQuery.
// Start-up flow: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
import type { Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import { AuthCode } from '../protocol/index.js';
import { UpstreamError } from './errors.js';
import { openUpstreamSocket } from './socket.js';
import type { UpstreamTarget } from './target.js';

export interface ServerKey {
  pid: number;
  secret: number;
}

/** A logged-in server connection, ready for queries (the server last said ReadyForQuery 'I'). Its socket is paused. */
export interface ServerConnection {
  socket: Socket;
  /** ParameterStatus values the server reported during startup. */
  params: Map<string, string>;
  key: ServerKey;
  target: UpstreamTarget;
}

/**
 * Answers the server's authentication requests (src/auth's UpstreamAuth is the implementation). `code` is the
 * AuthenticationXXX subtype, `data` its payload (md5 salt, SASL mechanism list as NUL-separated names, SASL data).
 * Resolves to the framed message to send, or undefined when nothing is sent.
 *
 * The login passes AuthenticationOk in as code 0 (AuthCode.Ok): `respond` must then throw unless the method's
 * exchange completed and the server proved itself (SCRAM: SASLFinal arrived and its signature verified), or the
 * server may not be trusted without an exchange. That call is what makes every login verified.
 */
export interface UpstreamAuthenticator {
  respond(code: number, data: Buffer): Promise<Buffer | undefined>;
}

/**
 * Connects to `target` (TLS per its `tls` and `caFile`), sends the StartupMessage with `params` (user, database,
 * application_name, ...), answers authentication through `auth`, and resolves at the first ReadyForQuery after a
 * verified AuthenticationOk. Rejects with UpstreamError (connect, TLS, server ErrorResponse, protocol) or whatever
 * `auth` throws (UpstreamAuthError from src/auth); all of them record side 'server'.
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
    socket = await openUpstreamSocket(target, ac.signal);
    return await login(socket, target, params, auth, ac.signal);
  } catch (err) {
    socket?.destroy();
    if (ac.signal.aborted && !(err instanceof UpstreamError && err.code === 'UPSTREAM_REFUSED')) {
      throw err instanceof UpstreamError && err.code === 'UPSTREAM_TIMEOUT'
        ? err
        : new UpstreamError('UPSTREAM_TIMEOUT', `timed out connecting to ${target.host}:${target.port}`, undefined, { cause: err });
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

type ServerErrorFields = { severity?: string; code?: string; message: string; detail?: string; hint?: string };
type ParsedMessage = { name: string; [k: string]: unknown };

/** What the login does with one server message, copied out of the parser's buffer (it may be reused before we get to it). */
type Step =
  | { t: 'auth'; code: number; data: Buffer }
  | { t: 'param'; name: string; value: string }
  | { t: 'key'; key: ServerKey }
  | { t: 'ready' }
  | { t: 'error'; fields: ServerErrorFields }
  | { t: 'ignore' };

function toStep(msg: ParsedMessage): Step {
  switch (msg.name) {
    case 'authenticationOk':
      return { t: 'auth', code: AuthCode.Ok, data: Buffer.alloc(0) };
    case 'authenticationCleartextPassword':
      return { t: 'auth', code: AuthCode.CleartextPassword, data: Buffer.alloc(0) };
    case 'authenticationMD5Password':
      return { t: 'auth', code: AuthCode.MD5Password, data: Buffer.from(msg.salt as Buffer) };
    case 'authenticationSASL':
      return { t: 'auth', code: AuthCode.SASL, data: Buffer.from((msg.mechanisms as string[]).join('\0'), 'utf8') };
    case 'authenticationSASLContinue':
      return { t: 'auth', code: AuthCode.SASLContinue, data: Buffer.from(msg.data as string, 'utf8') };
    case 'authenticationSASLFinal':
      return { t: 'auth', code: AuthCode.SASLFinal, data: Buffer.from(msg.data as string, 'utf8') };
    case 'parameterStatus':
      return { t: 'param', name: msg.parameterName as string, value: msg.parameterValue as string };
    case 'backendKeyData':
      return { t: 'key', key: { pid: msg.processID as number, secret: msg.secretKey as number } };
    case 'readyForQuery':
      return { t: 'ready' };
    case 'error': {
      const e = msg as unknown as Partial<Record<'severity' | 'code' | 'detail' | 'hint', string>> & { message: string };
      const fields: ServerErrorFields = { message: e.message };
      for (const k of ['severity', 'code', 'detail', 'hint'] as const) if (e[k] !== undefined) fields[k] = e[k];
      return { t: 'error', fields };
    }
    default:
      return { t: 'ignore' }; // NoticeResponse and NegotiateProtocolVersion need no answer
  }
}

function login(socket: Socket, target: UpstreamTarget, params: Record<string, string>, auth: UpstreamAuthenticator, signal: AbortSignal): Promise<ServerConnection> {
  const where = `${target.host}:${target.port}`;
  return new Promise<ServerConnection>((resolve, reject) => {
    const parser = new Parser();
    const serverParams = new Map<string, string>();
    let key: ServerKey = { pid: 0, secret: 0 };
    // Set by a verified AuthenticationOk: before it nothing but authentication may arrive, after it no more of it.
    let authenticated = false;
    // Steps run one after another: an auth step may be async (key derivation) and must finish before the next message counts.
    let queue: Promise<void> = Promise.resolve();
    let settled = false;

    const finish = (err: Error | undefined) => {
      if (settled) return;
      settled = true;
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else {
        socket.pause();
        resolve({ socket, params: serverParams, key, target });
      }
    };
    const onError = (err: Error) => finish(new UpstreamError('UPSTREAM_UNREACHABLE', `server connection failed: ${err.message}`, undefined, { cause: err }));
    const onClose = () => finish(new UpstreamError('UPSTREAM_UNREACHABLE', 'server closed the connection during login'));
    const onAbort = () => finish(new UpstreamError('UPSTREAM_TIMEOUT', `timed out logging in to ${where}`));
    const violation = (what: string) => new UpstreamError('UPSTREAM_PROTOCOL', `server ${where} ${what}`);

    const run = async (step: Step): Promise<void> => {
      if (settled) return;
      switch (step.t) {
        case 'auth': {
          if (authenticated) throw violation('asked for authentication again after AuthenticationOk');
          const out = await auth.respond(step.code, step.data); // code 0 throws unless the exchange completed and verified
          if (step.code === AuthCode.Ok) authenticated = true;
          else if (out && !settled) socket.write(out);
          return;
        }
        case 'param':
          if (!authenticated) throw violation('sent ParameterStatus before authentication completed');
          serverParams.set(step.name, step.value);
          return;
        case 'key':
          if (!authenticated) throw violation('sent BackendKeyData before authentication completed');
          key = step.key;
          return;
        case 'ready':
          if (!authenticated) throw violation('sent ReadyForQuery before authentication completed');
          return finish(undefined);
        case 'error':
          throw new UpstreamError('UPSTREAM_REFUSED', `server refused login: ${step.fields.message}`, step.fields);
        case 'ignore':
          return;
      }
    };

    const onData = (chunk: Buffer) => {
      try {
        parser.parse(chunk, ((msg: ParsedMessage) => {
          const step = toStep(msg);
          queue = queue.then(() => run(step)).catch((err: unknown) => finish(err instanceof Error ? err : new Error(String(err))));
        }) as never);
      } catch (err) {
        finish(new UpstreamError('UPSTREAM_PROTOCOL', `unparseable message from server ${where}: ${(err as Error).message}`));
      }
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.resume();
    socket.write(serialize.startup(params));
  });
}
