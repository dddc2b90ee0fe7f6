// What PostgreSQL accepts from a logged-in client: the message types it knows and the size limit of each (postgres.c's SocketBackend).
// https://www.postgresql.org/docs/current/protocol-message-formats.html
import { Frontend as F } from './codes.js';

/** Largest message accepted at all (PostgreSQL's PQ_LARGE_MESSAGE_LIMIT is 1 GB). */
export const MAX_FRONTEND_MESSAGE = 0x3fffffff;
/** Largest message of the other types (PostgreSQL's PQ_SMALL_MESSAGE_LIMIT). */
const SMALL_MESSAGE = 10_000;

/** Messages that may be large; any other type past SMALL_MESSAGE is refused, as PostgreSQL refuses it. */
const LARGE_TYPES = new Set<number>([F.Query, F.Parse, F.Bind, F.FunctionCall, F.CopyData]);

/** Message types a client may send once logged in; anything else makes PostgreSQL end the connection. */
const KNOWN_TYPES = new Set<number>([F.Bind, F.Close, F.CopyData, F.CopyDone, F.CopyFail, F.Describe, F.Execute, F.Flush, F.FunctionCall, F.Parse, F.Query, F.Sync, F.Terminate]);

/** Why PostgreSQL would refuse this message header (08P01), or undefined; `length` counts the length field too. */
export function frontendMessageProblem(type: number, length: number): string | undefined {
  if (!KNOWN_TYPES.has(type)) return `invalid frontend message type ${type}`;
  if (length > SMALL_MESSAGE && !LARGE_TYPES.has(type)) return `invalid message length ${length} for message type ${type}`;
  return undefined;
}
