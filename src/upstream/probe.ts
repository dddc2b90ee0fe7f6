// The health probe's connection to one server: logged in once and kept, it asks the server's role every interval and reports at once when the connection dies.
// Simple query flow: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SIMPLE-QUERY
import type { Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import { connectUpstream, type UpstreamAuthenticator } from './connect.js';
import { UpstreamError } from './errors.js';
import { reportFromParams, type RoleReport } from './roles.js';
import type { UpstreamTarget } from './target.js';

/**
 * Recovery, read-only and lag in one round trip. pg_last_xact_replay_timestamp() is null on a primary and on a replica
 * that has replayed nothing yet; the lag is then unknown.
 */
export const PROBE_SQL =
  "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only'), " +
  'CASE WHEN pg_is_in_recovery() THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END';
const PROBE_QUERY = serialize.query(PROBE_SQL);

export interface ProbeLogin {
  user: string;
  database: string;
  auth: () => UpstreamAuthenticator;
}

/** One probe connection. `lost` is called once when an open connection dies between or during probes. */
export class ProbeConnection {
  private socket: Socket | undefined;
  private busy: Promise<RoleReport> | undefined;

  constructor(
    private readonly target: UpstreamTarget,
    private readonly lost: (err: Error) => void,
  ) {}

  get open(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  /** Logs in when needed, then runs PROBE_SQL; rejects (UpstreamError) on any failure or after `timeoutMs`. */
  probe(login: ProbeLogin, timeoutMs: number): Promise<RoleReport> {
    this.busy ??= this.run(login, timeoutMs).finally(() => (this.busy = undefined));
    return this.busy;
  }

  close(): void {
    const s = this.socket;
    this.socket = undefined;
    s?.destroy();
  }

  private async run(login: ProbeLogin, timeoutMs: number): Promise<RoleReport> {
    const deadline = Date.now() + timeoutMs;
    let fromLogin: RoleReport | undefined;
    if (!this.open) {
      const conn = await connectUpstream(this.target, { user: login.user, database: login.database, application_name: 'pgporter-probe' }, login.auth(), timeoutMs);
      fromLogin = reportFromParams(conn.params);
      const s = conn.socket;
      this.socket = s;
      s.on('error', () => {});
      // Kept reading between probes, so the close of a server that died is seen at once (a paused socket never reads the FIN).
      s.on('data', ignore);
      s.resume();
      s.once('close', () => {
        if (this.socket !== s) return;
        this.socket = undefined;
        this.lost(new UpstreamError('UPSTREAM_UNREACHABLE', 'probe connection closed'));
      });
    }
    try {
      return { ...fromLogin, ...(await query(this.socket!, Math.max(1, deadline - Date.now()))) };
    } catch (err) {
      this.close();
      throw err;
    }
  }
}

const ignore = (): void => {};

/** Sends the probe query and reads its one row up to ReadyForQuery. */
function query(socket: Socket, timeoutMs: number): Promise<RoleReport> {
  return new Promise<RoleReport>((resolve, reject) => {
    const parser = new Parser();
    let row: (string | null)[] | undefined;
    let failure: Error | undefined;
    const done = (err: Error | undefined) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) return reject(err);
      if (!row) return reject(new UpstreamError('UPSTREAM_PROTOCOL', 'probe query returned no row'));
      const lag = row[2] === null || row[2] === undefined ? undefined : Number(row[2]);
      resolve({ inRecovery: row[0] === 't', readOnly: row[1] === 'on', lagSeconds: lag !== undefined && Number.isFinite(lag) ? Math.max(0, lag) : undefined });
    };
    const timer = setTimeout(() => done(new UpstreamError('UPSTREAM_TIMEOUT', 'probe query timed out')), timeoutMs);
    const onClose = () => done(new UpstreamError('UPSTREAM_UNREACHABLE', 'server closed the probe connection'));
    const onData = (chunk: Buffer) => {
      try {
        parser.parse(chunk, ((msg: { name: string; fields?: (string | null)[]; message?: string; code?: string }) => {
          if (msg.name === 'dataRow') row = msg.fields;
          else if (msg.name === 'error') failure = new UpstreamError('UPSTREAM_REFUSED', `probe query failed: ${msg.message}`, { message: msg.message ?? '', ...(msg.code ? { code: msg.code } : {}) });
          else if (msg.name === 'readyForQuery') done(failure);
        }) as never);
      } catch (err) {
        done(new UpstreamError('UPSTREAM_PROTOCOL', `unparseable probe reply: ${(err as Error).message}`));
      }
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(PROBE_QUERY);
  });
}
