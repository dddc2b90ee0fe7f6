// Less common protocol messages through the pool, each compared with PostgreSQL directly: FunctionCall, Flush, Execute with a row limit, unknown message types.
import t from 'tap';
import { startPoolEnv } from './fixtures/pool-env.js';
import { USERS } from './fixtures/postgres.js';
import { Bind, Describe, Execute, Flush, Parse, Query, Sync, Wire, errorOf, fields, msg, rowsOf, typesOf } from './fixtures/wire.js';

const env = await startPoolEnv({ mode: 'transaction', size: 1 });
t.teardown(() => env.stop());
const login = { user: USERS.trust.user, database: 'postgres' };
const targets = { direct: env.pg.port, pgporter: env.porter.port };
const int4pl = Number(env.pg.sql("SELECT 'int4pl'::regproc::oid"));

/** FunctionCall of a two-int4 function with text arguments and a text result. */
function functionCall(oid: number, a: string, b: string): Buffer {
  const head = Buffer.alloc(4 + 2 + 2 + 2);
  head.writeInt32BE(oid, 0);
  head.writeInt16BE(1, 4); // one format code for all arguments
  head.writeInt16BE(0, 6); // text
  head.writeInt16BE(2, 8);
  const arg = (s: string) => {
    const v = Buffer.from(s);
    const l = Buffer.alloc(4);
    l.writeInt32BE(v.length);
    return Buffer.concat([l, v]);
  };
  return msg('F', Buffer.concat([head, arg(a), arg(b), Buffer.from([0, 0])]));
}

for (const [target, port] of Object.entries(targets)) {
  t.test(`${target}: FunctionCall`, async (t) => {
    const w = await Wire.open(port, login);
    t.teardown(() => w.close());
    const r = await w.roundTrip(functionCall(int4pl, '40', '2'));
    t.equal(typesOf(r), 'VZ', 'FunctionCallResponse, ReadyForQuery');
    t.equal(r[0]!.body.subarray(4).toString(), '42');
    t.same(rowsOf(await w.roundTrip(Query('SELECT 1'))), [['1']], 'the connection goes on');
  });

  t.test(`${target}: Flush delivers replies before the Sync`, async (t) => {
    const w = await Wire.open(port, login);
    t.teardown(() => w.close());
    const from = w.replies.length;
    w.send(Parse('', 'SELECT $1::int + 1'), Describe('S', ''), Flush);
    await w.until((r) => r.type === 'T', from);
    t.equal(w.types(from), '1tT', 'answered without a Sync');
    w.send(Bind('', ['41']), Execute(), Flush);
    await w.until((r) => r.type === 'C', from);
    t.same(rowsOf(w.replies.slice(from)), [['42']]);
    const z = await w.roundTrip(Sync);
    t.equal(typesOf(z), 'Z');
  });

  t.test(`${target}: Execute with a row limit inside a transaction, then the rest`, async (t) => {
    const w = await Wire.open(port, login);
    t.teardown(() => w.close());
    await w.roundTrip(Query('BEGIN'));
    const first = await w.roundTrip(Parse('', 'SELECT g FROM generate_series(1, 5) g'), Bind('', [], 'cur'), Execute('cur', 2), Sync);
    t.equal(typesOf(first), '12DDsZ', 'two rows, PortalSuspended');
    const rest = await w.roundTrip(Execute('cur', 0), Sync);
    t.same(rowsOf(rest), [['3'], ['4'], ['5']]);
    await w.roundTrip(Query('COMMIT'));
  });

  t.test(`${target}: an unknown message type ends the client with 08P01`, async (t) => {
    const w = await Wire.open(port, login);
    w.send(msg('z', 'hello'));
    await w.closedBy();
    const e = w.replies.find((r) => r.type === 'E');
    t.equal(e && fields(e.body).C, '08P01');
    t.equal(e && fields(e.body).S, 'FATAL');
    const next = await Wire.open(port, login);
    t.teardown(() => next.close());
    t.same(rowsOf(await next.roundTrip(Query('SELECT 5'))), [['5']], 'other clients are served');
    t.notOk(errorOf(await next.roundTrip(Query('SELECT 6'))));
  });
}
