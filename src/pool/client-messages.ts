// How a pooled client's messages are handled: each frontend message is read by its header and dropped, answered here, held until a server is free, or sent on to the client's server.
// Message formats: https://www.postgresql.org/docs/current/protocol-message-formats.html
import { ClientError } from '../errors.js';
import { Frontend as F, frontendMessageProblem, readyForQuery } from '../protocol/index.js';
import { Act } from './framer.js';
import type { PooledServer } from './server.js';
import { NoServerParse } from './client-statements.js';
import type { PoolClient } from './client.js';

export const READY_IDLE = readyForQuery('I');

/** Queries longer than this cannot be DEALLOCATE/DISCARD and are streamed, not buffered. */
const SHORT_QUERY = 600;

/** The framer's header(): what to do with the client's message of this type and length. */
export function clientHeader(c: PoolClient, type: number, length: number): Act {
  if (c.state === 'closed') return Act.Drop;
  if (type === F.Terminate) {
    c.finish('client', 'client sent Terminate', true);
    return Act.Drop;
  }
  const problem = frontendMessageProblem(type, length);
  if (problem !== undefined) {
    c.fail(new ClientError('CLIENT_PROTOCOL', problem), 'client');
    return Act.Drop;
  }
  c.timer.message();
  let sv = c.server;
  if (sv === undefined) {
    if (c.skipping) {
      if (type === F.Sync) {
        c.skipping = false;
        answerSync(c);
      }
      return Act.Drop;
    }
    switch (type) {
      case F.Sync:
        // Without a server everything before this Sync was answered here, outside any transaction.
        answerSync(c);
        return Act.Drop;
      case F.Flush:
      case F.CopyData:
      case F.CopyDone:
      case F.CopyFail:
        return Act.Drop; // nothing to flush or copy into without a server
      case F.Parse:
      case F.Close:
        return Act.Collect; // may be answered without a server (see clientMessage())
    }
    if (c.state === 'waiting') return Act.Hold;
    sv = take(c);
    if (sv === undefined) return Act.Hold;
  }
  if (sv.state === 'syncing') return Act.Hold;
  if (sv.skipping && type !== F.Sync) return Act.Drop;
  switch (type) {
    case F.Parse:
    case F.Bind:
    case F.Describe:
    case F.Close:
      return Act.Collect;
    case F.Query:
      if (length <= SHORT_QUERY) return Act.Collect;
      sentQuery(c, sv);
      return Act.Pass;
    case F.Sync:
    case F.FunctionCall:
      c.host.stats.queries++;
      sv.sent(type);
      return Act.Pass;
    default:
      sv.sent(type); // Execute, CopyDone, CopyFail; Flush and CopyData ask for nothing
      return Act.Pass;
  }
}

/** The framer's message(): a collected message, handled; false when it must be held until a server is ready. */
export function clientMessage(c: PoolClient, type: number, buf: Buffer, start: number, end: number): boolean {
  let sv = c.server;
  if (!sv) {
    if (c.state === 'closed') return true;
    if (type === F.Parse) {
      const r = c.prepared.parseWithoutServer(buf, start, end);
      if (r === NoServerParse.Duplicate) c.skipping = true;
      if (r !== NoServerParse.NeedsServer) return true;
    }
    if (type === F.Close) {
      c.prepared.closeWithoutServer(buf, start, end);
      return true;
    }
    if (c.state === 'waiting') return false;
    sv = take(c);
    if (sv === undefined) return false;
  }
  if (sv.state === 'syncing') return false;
  switch (type) {
    case F.Parse:
      c.prepared.parse(sv, buf, start, end);
      break;
    case F.Bind:
      c.prepared.bind(sv, buf, start, end);
      break;
    case F.Describe:
    case F.Close:
      c.prepared.describeOrClose(sv, type, buf, start, end);
      break;
    case F.Query:
      c.prepared.query(sv, buf, start, end);
      sentQuery(c, sv);
      break;
  }
  return true;
}

/** A free server now (attached), or undefined when the client was queued. */
function take(c: PoolClient): PooledServer | undefined {
  const sv = c.host.acquire(c);
  if (sv !== undefined) c.attach(sv);
  return sv;
}

function answerSync(c: PoolClient): void {
  c.host.stats.queries++;
  c.out.push(READY_IDLE);
  c.timer.answeredLocally();
}

function sentQuery(c: PoolClient, sv: PooledServer): void {
  c.host.stats.queries++;
  c.prepared.simpleQuery();
  sv.sent(F.Query);
}
