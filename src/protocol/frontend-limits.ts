// What PostgreSQL accepts from a logged-in client: the message types it knows and the size limit of each (postgres.c's SocketBackend).
// https://www.postgresql.org/docs/current/protocol-message-formats.html
import { Frontend as F } from './codes.js';

/** Largest message accepted at all (PostgreSQL's PQ_LARGE_MESSAGE_LIMIT is 1 GB). */
export const MAX_FRONTEND_MESSAGE = 0x3fffffff;
/** Largest message of the other types (PostgreSQL's PQ_SMALL_MESSAGE_LIMIT). */
const SMALL_MESSAGE = 10_000;

/** Messages that may be large; any other type past SMALL_MESSAGE is refused, as PostgreSQL refuses it. */
const LARGE_TYPES = [F.Query, F.Parse, F.Bind, F.FunctionCall, F.CopyData];

/** Message types a client may send once logged in; anything else makes PostgreSQL end the connection. */
const KNOWN_TYPES = [F.Bind, F.Close, F.CopyData, F.CopyDone, F.CopyFail, F.Describe, F.Execute, F.Flush, F.FunctionCall, F.Parse, F.Query, F.Sync, F.Terminate];

/** By type byte: 0 unknown, 1 known, 2 known and may be large (a table lookup for every client message, not a hash). */
const KIND = new Uint8Array(256);
for (const t of KNOWN_TYPES) KIND[t] = 1;
for (const t of LARGE_TYPES) KIND[t] = 2;

/** Why PostgreSQL would refuse this message header (08P01), or undefined; `length` counts the length field too. */
export function frontendMessageProblem(type: number, length: number): string | undefined {
  const kind = KIND[type];
  if (kind === 0 || kind === undefined) return `invalid frontend message type ${type}`;
  if (length > SMALL_MESSAGE && kind !== 2) return `invalid message length ${length} for message type ${type}`;
  return undefined;
}
