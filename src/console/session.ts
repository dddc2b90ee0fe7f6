// One logged-in console connection: ParameterStatus and ReadyForQuery, then simple Query messages answered one by one until Terminate.
import { randomInt } from 'node:crypto';
import { ClientError, PgporterError } from '../errors.js';
import { Frontend, backendKeyData, parameterStatus, readyForQuery } from '../protocol/index.js';
import type { ConsoleConnection } from '../proxy/index.js';
import { ConsoleError } from './console-error.js';
import { splitStatements } from './commands.js';
import { EMPTY_QUERY } from './wire.js';
import type { ConsoleRole, ConsoleSessionInfo } from './types.js';

/** Queries are short commands; a larger message is not a console command. */
const MAX_MESSAGE = 64 * 1024;

/** Extended-protocol messages: refused, and everything up to Sync skipped, as PostgreSQL does after an error. */
const EXTENDED = new Set<number>([Frontend.Parse, Frontend.Bind, Frontend.Describe, Frontend.Execute, Frontend.Close]);

/** Runs one statement: resolves with the messages to send (a result set, a CommandComplete, NOTICEs), or throws ConsoleError. */
export type Execute = (sql: string, session: ConsoleSession) => Promise<Buffer[]>;

export interface SessionEnd {
  endedBy: 'client' | 'pgporter';
  reason: string;
}

export class ConsoleSession {
  readonly info: ConsoleSessionInfo;
  private ended: SessionEnd | undefined;

  constructor(
    readonly conn: ConsoleConnection,
    readonly role: ConsoleRole,
    id: number,
    serverVersion: string,
  ) {
    const now = Date.now();
    this.info = {
      id,
      user: conn.user,
      role,
      addr: conn.clientIp,
      localAddr: conn.socket.localAddress,
      localPort: conn.socket.localPort,
      tls: conn.tls,
      connectedAt: now,
      lastActive: now,
    };
    // What psql and drivers expect after AuthenticationOk; the key is random and cancels of it are ignored.
    conn.socket.write(
      Buffer.concat([
        parameterStatus('server_version', serverVersion),
        parameterStatus('server_encoding', 'UTF8'),
        parameterStatus('client_encoding', 'UTF8'),
        parameterStatus('DateStyle', 'ISO, MDY'),
        parameterStatus('integer_datetimes', 'on'),
        parameterStatus('standard_conforming_strings', 'on'),
        parameterStatus('application_name', ''),
        backendKeyData(randomInt(1, 2 ** 31 - 1), randomInt(1, 2 ** 31 - 1)),
        readyForQuery('I'),
      ]),
    );
  }

  /** Ends the session from pgporter's side (shutdown): a FATAL ErrorResponse, then close. */
  end(err: ClientError): void {
    if (this.ended || this.conn.socket.destroyed) return;
    this.ended = { endedBy: 'pgporter', reason: err.message };
    this.conn.socket.end(err.toErrorResponse());
    setTimeout(() => this.conn.socket.destroy(), 2000).unref();
  }

  /** Reads and answers messages until the client leaves or the session is ended; never throws. */
  async run(execute: Execute): Promise<SessionEnd> {
    const { socket, reader } = this.conn;
    let skipping = false;
    for (;;) {
      let msg: { type: number; body: Buffer };
      try {
        msg = await reader.readMessage(MAX_MESSAGE);
      } catch (err) {
        if (this.ended) return this.ended;
        if (err instanceof ClientError) return this.fatal(err);
        return { endedBy: 'client', reason: err instanceof PgporterError ? err.message : 'client connection lost' };
      }
      if (this.ended) return this.ended;
      this.info.lastActive = Date.now();
      switch (msg.type) {
        case Frontend.Query: {
          const out = await this.query(msg.body.toString('utf8', 0, Math.max(0, msg.body.length - 1)), execute);
          if (!socket.destroyed) socket.write(Buffer.concat([...out, readyForQuery('I')]));
          break;
        }
        case Frontend.Sync:
          skipping = false;
          socket.write(readyForQuery('I'));
          break;
        case Frontend.Flush:
          break;
        case Frontend.FunctionCall:
          socket.write(Buffer.concat([notSupported('function calls').toErrorResponse(), readyForQuery('I')]));
          break;
        case Frontend.Terminate:
          reader.detach();
          socket.end();
          return { endedBy: 'client', reason: 'client terminated the session' };
        default:
          if (EXTENDED.has(msg.type)) {
            if (!skipping) socket.write(notSupported('the extended query protocol').toErrorResponse());
            skipping = true;
            break;
          }
          return this.fatal(new ClientError('CLIENT_PROTOCOL', `invalid frontend message type ${msg.type} ("${String.fromCharCode(msg.type)}")`));
      }
    }
  }

  private async query(sql: string, execute: Execute): Promise<Buffer[]> {
    const statements = splitStatements(sql);
    if (statements.length === 0) return [EMPTY_QUERY];
    const out: Buffer[] = [];
    // As in PostgreSQL, an error ends the query string: later statements are not run.
    for (const st of statements) {
      try {
        out.push(...(await execute(st, this)));
      } catch (err) {
        if (err instanceof ConsoleError) out.push(err.toErrorResponse());
        else {
          this.conn.log.error({ err, command: st }, 'console command failed');
          out.push(new ConsoleError('XX000', 'internal error in pgporter').toErrorResponse());
        }
        break;
      }
    }
    return out;
  }

  private fatal(err: ClientError): SessionEnd {
    this.conn.reader.detach();
    this.end(err);
    return { endedBy: 'pgporter', reason: err.message };
  }
}

function notSupported(what: string): ConsoleError {
  return new ConsoleError('0A000', `the admin console does not support ${what}`, 'Send console commands as simple queries (psql does).');
}

