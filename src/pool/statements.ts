// Named prepared statements across servers: server-side names from a hash of the Parse body, message rewriting, and each server's bounded LRU.
// Parse/Bind/Describe/Close layouts: https://www.postgresql.org/docs/current/protocol-message-formats.html
import { createHash } from 'node:crypto';
import { Frontend } from '../protocol/index.js';

/**
 * A statement a client prepared: its own name ('' for the unnamed statement), what pgporter calls it on servers
 * (the same '' for the unnamed one), and the Parse that creates it there. Identity matters: a server's unnamed
 * statement is the client's only if it is the very same object.
 */
export interface ClientStatement {
  readonly clientName: string;
  readonly serverName: string;
  /** The client's Parse with the server-side name, ready to inject on a server that lacks it (a copy: chunks are not kept). */
  readonly parse: Buffer;
}

const NAME_PREFIX = 'pgp_';

/** Index of the NUL ending the C string at `from`, or -1. */
export function cstringEnd(buf: Buffer, from: number, end: number): number {
  const i = buf.indexOf(0, from);
  return i < 0 || i >= end ? -1 : i;
}

/**
 * The server-side name for a Parse body (query text and parameter types, without the client's name): identical
 * statements from different clients share one prepared statement per server. `context` (the client's search_path)
 * is hashed too: the same text resolves to other tables under another search_path.
 */
export function serverNameFor(buf: Buffer, bodyStart: number, end: number, context: string): string {
  return NAME_PREFIX + createHash('sha256').update(context).update('\0').update(buf.subarray(bodyStart, end)).digest('hex').slice(0, 32);
}

const SERVER_NAME = /pgp_[0-9a-f]{32}/g;

/**
 * An ErrorResponse or NoticeResponse with pgporter's statement names replaced by the client's own, or undefined when
 * it names none (the common case: one indexOf). `clientName` maps a server-side name to the client's name.
 */
export function rewriteStatementNames(buf: Buffer, start: number, end: number, clientName: (serverName: string) => string | undefined): Buffer | undefined {
  const at = buf.indexOf(NAME_PREFIX, start + 5);
  if (at < 0 || at >= end) return undefined;
  const text = buf.toString('utf8', start + 5, end);
  const body = text.replace(SERVER_NAME, (n) => clientName(n) ?? n);
  const bytes = Buffer.from(body, 'utf8');
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = buf[start]!;
  out.writeInt32BE(4 + bytes.length, 1);
  bytes.copy(out, 5);
  return out;
}

function frame(type: number, parts: (Buffer | string)[]): Buffer {
  let len = 4;
  const bufs = parts.map((p) => (typeof p === 'string' ? Buffer.from(p + '\0', 'utf8') : p));
  for (const b of bufs) len += b.length;
  const out = Buffer.allocUnsafe(1 + len);
  out[0] = type;
  out.writeInt32BE(len, 1);
  let o = 5;
  for (const b of bufs) o += b.copy(out, o);
  return out;
}

/** A Parse message: `name` then the original body after the client's name (query, parameter types); always a new buffer. */
export function buildParse(name: string, rest: Buffer): Buffer {
  return frame(Frontend.Parse, [name, rest]);
}

/** A Close of the unnamed statement: makes a server forget whatever unnamed statement an earlier client left on it. */
export const CLOSE_UNNAMED = frame(Frontend.Close, [Buffer.from('S', 'latin1'), '']);

/** A Bind with the statement name replaced; `rest` is everything after the original statement name. */
export function buildBind(portal: Buffer, statement: string, rest: Buffer): Buffer {
  return frame(Frontend.Bind, [portal, statement, rest]);
}

/** Describe or Close of a statement ('S') by name. */
export function buildStatementMessage(type: Frontend.Describe | Frontend.Close, name: string): Buffer {
  return frame(type, [Buffer.from('S', 'latin1'), name]);
}

/** The prepared statements one server holds, least recently used first, with the batch that last used each. */
export class StatementCache {
  private readonly entries = new Map<string, number>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Marks a statement as used by batch `gen` (now the most recently used). */
  touch(name: string, gen: number): void {
    this.entries.delete(name);
    this.entries.set(name, gen);
  }

  delete(name: string): void {
    this.entries.delete(name);
  }

  clear(): void {
    this.entries.clear();
  }

  /**
   * The statement to close to make room, or undefined when under capacity or when the oldest is used by the current
   * batch (closing it would also close portals bound from it before their Execute).
   */
  evictable(currentGen: number): string | undefined {
    if (this.entries.size < this.capacity) return undefined;
    for (const [name, gen] of this.entries) return gen < currentGen ? name : undefined;
    return undefined;
  }
}

/** `DEALLOCATE [PREPARE] name|ALL` or `DISCARD ALL` in a simple query, which change the client's statements. */
export type StatementCommand = { kind: 'deallocate'; name: string } | { kind: 'deallocate-all' } | { kind: 'discard-all' };

const DEALLOCATE = /^\s*deallocate\s+(?:prepare\s+)?("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\s*;?\s*$/i;
const DISCARD_ALL = /^\s*discard\s+all\s*;?\s*$/i;

/** Recognises the statement commands in a Query body (text ends at the first NUL); cheap reject for anything else. */
export function statementCommand(buf: Buffer, start: number, end: number): StatementCommand | undefined {
  // Skip whitespace, then look at the first letter: nearly every query is rejected here.
  let i = start;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x09 || buf[i] === 0x0d)) i++;
  const c = buf[i]! | 0x20;
  if (c !== 0x64 /* d */ || end - start > 512) return undefined;
  const nul = cstringEnd(buf, start, end);
  const text = buf.toString('utf8', start, nul < 0 ? end : nul);
  if (DISCARD_ALL.test(text)) return { kind: 'discard-all' };
  const m = DEALLOCATE.exec(text);
  if (!m) return undefined;
  const raw = m[1]!;
  if (raw.toLowerCase() === 'all') return { kind: 'deallocate-all' };
  // Unquoted identifiers fold to lower case, as the server would fold them.
  const name = raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw.toLowerCase();
  return { kind: 'deallocate', name };
}

/** A simple Query message for `sql`. */
export function buildQuery(sql: string): Buffer {
  return frame(Frontend.Query, [sql]);
}
