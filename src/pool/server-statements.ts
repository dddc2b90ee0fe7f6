// The statements one pooled server holds (named ones in a bounded LRU, and whose unnamed statement it is) and the messages that make a client's statement present on it.
// Parse/Close and the unnamed statement: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY
import { Frontend as F } from '../protocol/index.js';
import type { Outbox } from './outbox.js';
import { Exp, type ExpectQueue, isSyncLike } from './expect-queue.js';
import type { ServerPeer } from './seams.js';
import { CLOSE_UNNAMED, StatementCache, buildQuery, buildStatementMessage, type ClientStatement } from './statements.js';

// Replies pgporter makes up in place of the server's (constant frames, built once).
export const PARSE_COMPLETE = Buffer.from([0x31, 0, 0, 0, 4]); // '1'
export const CLOSE_COMPLETE = Buffer.from([0x33, 0, 0, 0, 4]); // '3'

/** The unnamed statement on a server: a client's (by identity), known to be none, or unknown (a message was skipped). */
type Unnamed = ClientStatement | 'none' | 'unknown';

/** The parts of its server the statements write through. */
export interface StatementWire {
  readonly out: Outbox;
  readonly expect: ExpectQueue<ClientStatement | string>;
  /** The server ignores everything up to Sync after an error. */
  readonly skipping: boolean;
  readonly client: { readonly out: Outbox } | undefined;
  forward(buf: Buffer, start: number, end: number, reply: Exp, tag?: ClientStatement): void;
}

export class ServerStatements {
  private readonly cache: StatementCache;
  private unnamed: Unnamed = 'none';
  /** Batch number, bumped per Sync or Query sent: statements used by the current batch are not evicted. */
  private gen = 1;

  constructor(
    private readonly wire: StatementWire,
    cacheSize: number,
  ) {
    this.cache = new StatementCache(cacheSize);
  }

  /** A Sync or FunctionCall went out: a new batch. */
  batchSent(): void {
    this.gen++;
  }

  /** A simple query went out (the client's or pgporter's): PostgreSQL drops the unnamed statement first. */
  simpleQuery(): void {
    this.unnamed = 'none';
    this.gen++;
  }

  /** DEALLOCATE ALL, DISCARD ALL or a reset: nothing is prepared any more. */
  dropAll(): void {
    this.cache.clear();
  }

  /**
   * An ErrorResponse in an extended-query batch: the server skips everything up to the next Sync, so what it will not
   * answer leaves the expect queue. The first entry is the message that failed, the rest were skipped. `client`: the
   * client bound to the server, told when its own Parse failed or was skipped.
   */
  errorSkip(client: ServerPeer | undefined): void {
    const q = this.wire.expect;
    let first = true;
    while (q.length && !isSyncLike(q.peek() as Exp)) {
      const tag = q.peekTag();
      const x = q.shift();
      if (x === Exp.Parse || x === Exp.ParseSwallow) {
        const st = tag as ClientStatement;
        this.parseFailed(st, first);
        if (x === Exp.Parse) client?.prepared.failed(st);
      } else if (x === Exp.CloseSwallow) this.closeSkipped(tag);
      first = false;
    }
  }

  /**
   * A Parse failed (`first`: it is the message that failed) or was skipped after an error: the statement does not
   * exist here. A failed unnamed Parse leaves none; a skipped one leaves whatever was there.
   */
  private parseFailed(st: ClientStatement, first: boolean): void {
    if (st.serverName === '') this.unnamed = first ? 'none' : 'unknown';
    else this.cache.delete(st.serverName);
  }

  /** A Close pgporter sent was skipped after an error: the statement is still prepared (or, unnamed, unknown). */
  private closeSkipped(tag: ClientStatement | string | undefined): void {
    if (typeof tag === 'string') this.cache.touch(tag, 0);
    else this.unnamed = 'unknown';
  }

  /** The client's Parse of the unnamed statement, forwarded: the unnamed statement here is now the client's. */
  parseUnnamed(st: ClientStatement, buf: Buffer, start: number, end: number): void {
    this.wire.out.range(buf, start, end);
    this.wire.expect.push(Exp.Parse, st);
    this.unnamed = st;
  }

  /**
   * Before a Bind or Describe of the unnamed statement: makes it the client's own (`st`), or none when the client
   * has none, so a client never runs what another client left here.
   */
  useUnnamed(st: ClientStatement | undefined): void {
    if (st !== undefined) {
      if (this.unnamed === st) return;
      this.wire.out.push(st.parse);
      this.wire.expect.push(Exp.ParseSwallow, st);
      this.unnamed = st;
    } else if (this.unnamed !== 'none') {
      this.wire.out.push(CLOSE_UNNAMED);
      this.wire.expect.push(Exp.CloseSwallow);
      this.unnamed = 'none';
    }
  }

  /** The client closed its unnamed statement (Close 'S' ""), forwarded from buf[start, end). */
  closeUnnamed(buf: Buffer, start: number, end: number): void {
    this.wire.forward(buf, start, end, Exp.Close);
    this.unnamed = 'none';
  }

  /**
   * Makes sure a client's named statement exists here, preparing it when missing. `answer`: the client sent this
   * Parse and expects a ParseComplete (made up when the statement is already here); otherwise the reply is swallowed.
   */
  ensurePrepared(st: ClientStatement, answer = false): void {
    if (this.cache.has(st.serverName)) {
      this.cache.touch(st.serverName, this.gen);
      if (answer) this.synth(Exp.ParseSynth);
      return;
    }
    this.makeRoom();
    this.wire.out.push(st.parse);
    this.wire.expect.push(answer ? Exp.Parse : Exp.ParseSwallow, st);
    this.cache.touch(st.serverName, this.gen);
  }

  /**
   * The client prepared a name it already has: the server answers the second Parse (sent under the first one's
   * server-side name, which it holds) with its own 42P05, so the error, the skip to Sync and the transaction state
   * are PostgreSQL's; the name in the text is put back to the client's.
   */
  parseDuplicate(existing: ClientStatement, parse: Buffer): void {
    this.ensurePrepared(existing);
    this.wire.out.push(parse);
    this.wire.expect.push(Exp.ParseDup, existing);
  }

  /** A reply pgporter makes up (statement already prepared here, or kept for others): emitted in order. */
  synth(code: Exp.ParseSynth | Exp.CloseSynth): void {
    if (this.wire.skipping) return; // the server would have skipped the message: no reply
    if (this.wire.expect.length === 0) this.wire.client?.out.push(code === Exp.ParseSynth ? PARSE_COMPLETE : CLOSE_COMPLETE);
    else this.wire.expect.push(code);
  }

  /** The client's DEALLOCATE of one statement: prepared here first if needed, so it answers as it would directly. */
  deallocate(st: ClientStatement): void {
    this.ensurePrepared(st);
    this.cache.delete(st.serverName);
    this.wire.out.push(buildQuery(`DEALLOCATE "${st.serverName}"`));
  }

  /** Closes the least recently used statement when the cache is full (the CloseComplete is swallowed). */
  private makeRoom(): void {
    const victim = this.cache.evictable(this.gen);
    if (victim === undefined) return;
    this.cache.delete(victim);
    this.wire.out.push(buildStatementMessage(F.Close, victim));
    this.wire.expect.push(Exp.CloseSwallow, victim);
  }
}
