// Runs a tenant's authQuery on its upstream as the auth user (a short-lived pg-protocol connection) and turns the row into a Credential.
// Extended query flow: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY
import type { Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import { PgporterError } from '../errors.js';
import { connectUpstream, upstreamTarget, UpstreamError, type ServerConnection, type UpstreamTarget } from '../upstream/index.js';
import { parseStoredSecret, type Credential } from './credentials.js';
import { UpstreamAuth, type UpstreamSecret } from './upstream-login.js';

export interface AuthQueryRequest {
  /** Whose upstream this is (so the caller can wake its machine first). */
  tenantId: string;
  host: string;
  port: number;
  /** The tenant's upstream TLS (default disable) and CA bundle, as for its pool's servers. */
  tls?: UpstreamTarget['tls'];
  caFile?: string;
  /** Auth user and its password (omit when the upstream trusts it). */
  user: string;
  password?: string;
  database: string;
  /** The query; `$1` is the user name being looked up. */
  query: string;
  lookupUser: string;
  /** Deadline for the whole lookup: connect, login, query. */
  timeoutMs: number;
}

/** The lookup could not run (upstream unreachable, auth user refused, query failed); not cached. */
export class AuthQueryError extends PgporterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AUTH_QUERY_FAILED', 'auth_query_failed', 'server', message, options);
    this.name = 'AuthQueryError';
  }
}

/** Column names recognised in the query's result, so pg_shadow, pg_authid and custom queries all work. */
const NAME_COLUMNS = ['usename', 'rolname', 'username', 'user', 'name'];
const SECRET_COLUMNS = ['passwd', 'rolpassword', 'password', 'secret'];

/** Looks `lookupUser` up; undefined when the query returns no row or a null/unusable secret. */
export async function runAuthQuery(req: AuthQueryRequest): Promise<Credential | undefined> {
  const secret: UpstreamSecret = req.password !== undefined ? { kind: 'password', password: req.password } : { kind: 'none' };
  const session = await MiniSession.open({
    host: req.host,
    port: req.port,
    ...(req.tls !== undefined ? { tls: req.tls } : {}),
    ...(req.caFile !== undefined ? { caFile: req.caFile } : {}),
    user: req.user,
    database: req.database,
    secret,
    timeoutMs: req.timeoutMs,
  });
  try {
    const result = await session.query(req.query, [req.lookupUser]);
    if (result.rows.length === 0) return undefined;
    const fields = result.fields.map((f) => f.toLowerCase());
    let secretIdx = fields.findIndex((f) => SECRET_COLUMNS.includes(f));
    if (secretIdx < 0) {
      // Unnamed columns: the secret is the one column that is not the user name.
      const nameIdx = fields.findIndex((f) => NAME_COLUMNS.includes(f));
      secretIdx = fields.length === 1 ? 0 : fields.length === 2 && nameIdx >= 0 ? 1 - nameIdx : -1;
    }
    if (secretIdx < 0) throw new AuthQueryError('authQuery result has no password column (expected passwd or rolpassword)');
    return parseStoredSecret(result.rows[0]![secretIdx]);
  } finally {
    session.close();
  }
}

type Msg = { name: string; [k: string]: unknown };

export interface MiniSessionOptions {
  host: string;
  port: number;
  /** TLS towards the upstream, as in the tenant's `upstream` (default disable). */
  tls?: UpstreamTarget['tls'];
  caFile?: string;
  user: string;
  database: string;
  secret: UpstreamSecret;
  timeoutMs: number;
  /** Extra startup parameters. */
  params?: Record<string, string>;
}

/**
 * A minimal sequential PostgreSQL client for pgporter's own upkeep queries (authQuery): log in with the same
 * connectUpstream the pool uses (the tenant's TLS, a verified UpstreamAuth), run parameterised queries, close.
 * Not for the relay.
 */
export class MiniSession {
  private readonly socket: Socket;
  private readonly parser = new Parser();
  private readonly queue: Msg[] = [];
  // pg-protocol's ErrorResponse message is itself an Error, so failures travel in their own slot.
  private waiter: ((m: Msg | undefined, err?: Error) => void) | undefined;
  private failure: Error | undefined;
  private readonly timer: NodeJS.Timeout;
  /** ParameterStatus values from login. */
  readonly serverParams = new Map<string, string>();

  private constructor(socket: Socket, timeoutMs: number, where: string) {
    this.socket = socket;
    this.timer = setTimeout(() => this.fail(new AuthQueryError(`timed out talking to ${where}`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.parse(chunk, (m) => this.push(m as unknown as Msg));
      } catch (err) {
        this.fail(new AuthQueryError(`unparseable message from ${where}`, { cause: err }));
      }
    });
    socket.on('error', (err) => this.fail(new AuthQueryError(`connection to ${where} failed: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new AuthQueryError(`${where} closed the connection`)));
  }

  static async open(o: MiniSessionOptions): Promise<MiniSession> {
    const target = upstreamTarget(o);
    const where = `${o.host}:${o.port}`;
    const started = Date.now();
    let conn: ServerConnection;
    try {
      conn = await connectUpstream(
        target,
        { user: o.user, database: o.database, application_name: 'pgporter', ...(o.params ?? {}) },
        new UpstreamAuth(o.user, o.secret),
        o.timeoutMs,
      );
    } catch (err) {
      // The auth exchange's own errors (UPSTREAM_AUTH_*) keep their codes; connecting and refusals are lookup failures.
      if (err instanceof UpstreamError) {
        const what = err.code === 'UPSTREAM_REFUSED' && err.serverError ? `refused login as "${o.user}": ${err.serverError.message}` : err.message;
        throw new AuthQueryError(`${where} ${what}`, { cause: err });
      }
      throw err instanceof PgporterError ? err : new AuthQueryError(String(err), { cause: err });
    }
    const s = new MiniSession(conn.socket, Math.max(1, o.timeoutMs - (Date.now() - started)), where);
    for (const [k, v] of conn.params) s.serverParams.set(k, v);
    conn.socket.resume();
    return s;
  }

  /** Runs one statement with text parameters (unnamed statement and portal); resolves with column names and text rows. */
  async query(text: string, values: (string | null)[] = []): Promise<{ fields: string[]; rows: (string | null)[][] }> {
    this.socket.write(
      Buffer.concat([serialize.parse({ text }), serialize.bind({ values }), serialize.describe({ type: 'P' }), serialize.execute(), serialize.sync()]),
    );
    let fields: string[] = [];
    const rows: (string | null)[][] = [];
    let error: string | undefined;
    for (;;) {
      const m = await this.next();
      if (m.name === 'rowDescription') fields = (m.fields as { name: string }[]).map((f) => f.name);
      else if (m.name === 'dataRow') rows.push(m.fields as (string | null)[]);
      else if (m.name === 'error') error = String(m.message);
      else if (m.name === 'readyForQuery') break;
    }
    if (error !== undefined) throw new AuthQueryError(`query failed: ${error}`);
    return { fields, rows };
  }

  close(): void {
    clearTimeout(this.timer);
    if (!this.socket.destroyed) {
      this.socket.end(serialize.end());
      this.socket.destroySoon();
    }
    this.fail(new AuthQueryError('session closed'));
  }

  private push(m: Msg): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(m);
    } else this.queue.push(m);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    clearTimeout(this.timer);
    this.socket.destroy();
    const w = this.waiter;
    this.waiter = undefined;
    w?.(undefined, err);
  }

  private next(): Promise<Msg> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = (m, err) => (m ? resolve(m) : reject(err));
    });
  }
}
