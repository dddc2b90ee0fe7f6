// What one pooled client has prepared (named statements by its own names, and its unnamed statement), and the messages that use them, made to run the client's own statements on whichever server serves it.
// Parse/Bind/Describe/Close: https://www.postgresql.org/docs/current/protocol-message-formats.html
import { Frontend as F, errorResponse } from '../protocol/index.js';
import type { Outbox } from './outbox.js';
import { Exp } from './expect-queue.js';
import type { PooledServer } from './server.js';
import { CLOSE_COMPLETE, PARSE_COMPLETE } from './server-statements.js';
import { buildBind, buildParse, buildStatementMessage, cstringEnd, serverNameFor, statementCommand, type ClientStatement } from './statements.js';

/** What the statements need from their client. */
export interface StatementOwner {
  readonly out: Outbox;
  /** The client's search_path, hashed into server-side names. */
  searchPath(): string;
  /** Some server of the pool prepared this statement without error. */
  isValidStatement(serverName: string): boolean;
  /** A malformed message: the client ends (08P01). */
  protocolError(what: string): void;
}

/** How a named Parse without a server was handled. */
export const enum NoServerParse {
  /** Answered here (ParseComplete, or nothing because the message was malformed). */
  Answered,
  /** The name is taken: 42P05 sent; everything up to Sync is to be skipped. */
  Duplicate,
  /** A server must judge it. */
  NeedsServer,
}

export class ClientStatements {
  /** Named statements by the client's own name. */
  private readonly named = new Map<string, ClientStatement>();
  /** The unnamed statement the client last parsed (PostgreSQL drops it at a simple Query or a failed Parse). */
  private unnamed: ClientStatement | undefined;

  constructor(private readonly owner: StatementOwner) {}

  /** A simple query drops the unnamed statement. */
  simpleQuery(): void {
    this.unnamed = undefined;
  }

  /** A statement the client parsed was not created on the server (its Parse failed or was skipped). */
  failed(st: ClientStatement): void {
    if (st.serverName === '') {
      if (this.unnamed === st) this.unnamed = undefined;
    } else if (this.named.get(st.clientName) === st) this.named.delete(st.clientName);
  }

  /** The client's name for a server-side statement name (error path only: a linear search is fine). */
  clientNameOf(serverName: string): string | undefined {
    for (const st of this.named.values()) if (st.serverName === serverName) return st.clientName;
    return undefined;
  }

  /** A new statement of the client's: its server-side name (text, parameter types and search_path) and its Parse. */
  private newStatement(clientName: string, buf: Buffer, nameEnd: number, end: number): ClientStatement {
    const serverName = serverNameFor(buf, nameEnd + 1, end, this.owner.searchPath());
    return { clientName, serverName, parse: buildParse(serverName, buf.subarray(nameEnd + 1, end)) };
  }

  /**
   * A named Parse while the client holds no server: answered here when PostgreSQL's answer is already known (the
   * name is taken: 42P05; the same text was prepared without error before: ParseComplete), so a client that
   * prepares synchronously does not wait for a server. Otherwise a server must judge it.
   */
  parseWithoutServer(buf: Buffer, start: number, end: number): NoServerParse {
    const nameEnd = cstringEnd(buf, start + 5, end);
    if (nameEnd < 0) {
      this.owner.protocolError('Parse');
      return NoServerParse.Answered;
    }
    if (nameEnd === start + 5) return NoServerParse.NeedsServer;
    const name = buf.toString('utf8', start + 5, nameEnd);
    if (this.named.has(name)) {
      this.owner.out.push(errorResponse({ severity: 'ERROR', code: '42P05', message: `prepared statement "${name}" already exists` }));
      return NoServerParse.Duplicate;
    }
    const st = this.newStatement(name, buf, nameEnd, end);
    if (!this.owner.isValidStatement(st.serverName)) return NoServerParse.NeedsServer;
    this.named.set(name, st);
    this.owner.out.push(PARSE_COMPLETE);
    return NoServerParse.Answered;
  }

  /** Close without a server: no portal outlives its transaction, and statements are the client's own to forget. */
  closeWithoutServer(buf: Buffer, start: number, end: number): void {
    const nameEnd = cstringEnd(buf, start + 6, end);
    if (end - start < 7 || nameEnd < 0) return this.owner.protocolError('Close');
    if (buf[start + 5] === 0x53) {
      // 'S'
      if (nameEnd === start + 6) this.unnamed = undefined;
      else this.named.delete(buf.toString('utf8', start + 6, nameEnd));
    }
    this.owner.out.push(CLOSE_COMPLETE);
  }

  /** Parse: the unnamed one is forwarded and remembered; a named one gets its server-side name. */
  parse(sv: PooledServer, buf: Buffer, start: number, end: number): void {
    const nameEnd = cstringEnd(buf, start + 5, end);
    if (nameEnd < 0) return this.owner.protocolError('Parse');
    if (nameEnd === start + 5) {
      // Copied: the client may Bind it on another server after this transaction, long after the chunk is gone.
      const st: ClientStatement = { clientName: '', serverName: '', parse: Buffer.from(buf.subarray(start, end)) };
      this.unnamed = st;
      sv.prepared.parseUnnamed(st, buf, start, end);
      return;
    }
    const name = buf.toString('utf8', start + 5, nameEnd);
    const existing = this.named.get(name);
    if (existing !== undefined) {
      sv.prepared.parseDuplicate(existing, buildParse(existing.serverName, buf.subarray(nameEnd + 1, end)));
      return;
    }
    const st = this.newStatement(name, buf, nameEnd, end);
    this.named.set(name, st);
    sv.prepared.ensurePrepared(st, true);
  }

  /** Bind: the statement is made present on this server first (named or unnamed), and a named one renamed. */
  bind(sv: PooledServer, buf: Buffer, start: number, end: number): void {
    const portalEnd = cstringEnd(buf, start + 5, end);
    const stmtEnd = portalEnd < 0 ? -1 : cstringEnd(buf, portalEnd + 1, end);
    if (stmtEnd < 0) return this.owner.protocolError('Bind');
    if (stmtEnd === portalEnd + 1) {
      sv.prepared.useUnnamed(this.unnamed);
      sv.forward(buf, start, end, Exp.Bind);
      return;
    }
    const st = this.named.get(buf.toString('utf8', portalEnd + 1, stmtEnd));
    if (st === undefined) {
      sv.forward(buf, start, end, Exp.Bind); // the server says it does not exist, in the client's words
      return;
    }
    sv.prepared.ensurePrepared(st);
    sv.send(buildBind(buf.subarray(start + 5, portalEnd + 1), st.serverName, buf.subarray(stmtEnd + 1, end)), Exp.Bind, st);
  }

  /** Describe and Close: of a statement, made present (Describe) or forgotten (Close); portals pass through. */
  describeOrClose(sv: PooledServer, type: F.Describe | F.Close, buf: Buffer, start: number, end: number): void {
    const nameEnd = cstringEnd(buf, start + 6, end);
    if (end - start < 7 || nameEnd < 0) return this.owner.protocolError(type === F.Describe ? 'Describe' : 'Close');
    const reply = type === F.Describe ? Exp.Describe : Exp.Close;
    if (buf[start + 5] !== 0x53) {
      sv.forward(buf, start, end, reply); // a portal ('P'), or a bad subtype the server reports
      return;
    }
    if (nameEnd === start + 6) {
      if (type === F.Describe) {
        sv.prepared.useUnnamed(this.unnamed);
        sv.forward(buf, start, end, reply);
      } else {
        this.unnamed = undefined;
        sv.prepared.closeUnnamed(buf, start, end);
      }
      return;
    }
    const name = buf.toString('utf8', start + 6, nameEnd);
    const st = this.named.get(name);
    if (st === undefined) {
      sv.forward(buf, start, end, reply);
      return;
    }
    if (type === F.Close) {
      // Kept on the server: other clients may share it, and the LRU closes it when room is needed.
      this.named.delete(name);
      sv.prepared.synth(Exp.CloseSynth);
      return;
    }
    sv.prepared.ensurePrepared(st);
    sv.send(buildStatementMessage(F.Describe, st.serverName), Exp.Describe, st);
  }

  /** Query: DEALLOCATE and DISCARD ALL change the client's statements; everything else passes through (the caller counts it). */
  query(sv: PooledServer, buf: Buffer, start: number, end: number): void {
    const cmd = statementCommand(buf, start + 5, end);
    if (cmd?.kind === 'deallocate') {
      const st = this.named.get(cmd.name);
      if (st) {
        sv.prepared.deallocate(st);
        this.named.delete(cmd.name);
      } else sv.out.range(buf, start, end);
    } else {
      if (cmd !== undefined) {
        this.named.clear();
        sv.statementsDropped(cmd.kind === 'discard-all');
      }
      sv.out.range(buf, start, end);
    }
  }
}
