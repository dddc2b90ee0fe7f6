// The unnamed statement is the client's own: Go's lib/pq parses it in one Sync and binds it in the next, and must run its own query on whatever server it lands on, never another client's.
import t from 'tap';
import { startPoolEnv } from './fixtures/pool-env.js';
import { USERS } from './fixtures/postgres.js';
import { Bind, Close, Describe, Execute, Parse, Query, Sync, Wire, errorOf, rowsOf, typesOf } from './fixtures/wire.js';

const env = await startPoolEnv({ mode: 'transaction', size: 1 });
t.teardown(() => env.stop());
const login = { user: USERS.trust.user, database: 'postgres' };
const targets = { direct: env.pg.port, pgporter: env.porter.port };

for (const [target, port] of Object.entries(targets)) {
  t.test(`${target}: lib/pq's Parse/Describe/Sync then Bind/Execute/Sync runs the client's own statement`, async (t) => {
    const a = await Wire.open(port, login);
    const b = await Wire.open(port, login);
    t.teardown(() => (a.close(), b.close()));
    const pa = await a.roundTrip(Parse('', "SELECT 'from A'::text, $1::int"), Describe('S', ''), Sync);
    t.equal(typesOf(pa), '1tTZ', 'A: ParseComplete, ParameterDescription, RowDescription, ReadyForQuery');
    // B parses its own unnamed statement in between: on a pool of one server, it lands where A's was.
    const pb = await b.roundTrip(Parse('', "SELECT 'from B'::text, $1::int, 2"), Describe('S', ''), Sync);
    t.equal(typesOf(pb), '1tTZ');
    const ea = await a.roundTrip(Bind('', ['7']), Execute(), Sync);
    t.same(rowsOf(ea), [['from A', '7']], "A's Bind runs A's statement");
    const eb = await b.roundTrip(Bind('', ['8']), Execute(), Sync);
    t.same(rowsOf(eb), [['from B', '8', '2']], "B's Bind runs B's statement");
  });

  t.test(`${target}: a client with no unnamed statement gets 26000, never a leftover`, async (t) => {
    const a = await Wire.open(port, login);
    t.teardown(() => a.close());
    await a.roundTrip(Parse('', "SELECT 'left behind'"), Sync);
    a.close();
    const c = await Wire.open(port, login);
    t.teardown(() => c.close());
    const r = await c.roundTrip(Bind(''), Execute(), Sync);
    t.equal(errorOf(r)?.C, '26000', 'unnamed prepared statement does not exist');
    t.same(rowsOf(r), [], 'nothing of the earlier client ran');
    const d = await c.roundTrip(Describe('S', ''), Sync);
    t.equal(errorOf(d)?.C, '26000', 'Describe of the unnamed statement fails the same way');
  });

  t.test(`${target}: a simple query drops the unnamed statement; Close of it too`, async (t) => {
    const a = await Wire.open(port, login);
    t.teardown(() => a.close());
    await a.roundTrip(Parse('', 'SELECT 1'), Sync);
    await a.roundTrip(Query('SELECT 2'));
    t.equal(errorOf(await a.roundTrip(Bind(''), Execute(), Sync))?.C, '26000', 'gone after a simple query');
    await a.roundTrip(Parse('', 'SELECT 3'), Sync);
    t.equal(typesOf(await a.roundTrip(Close('S', ''), Sync)), '3Z');
    t.equal(errorOf(await a.roundTrip(Bind(''), Execute(), Sync))?.C, '26000', 'gone after Close');
  });

  t.test(`${target}: a failed unnamed Parse leaves no unnamed statement`, async (t) => {
    const a = await Wire.open(port, login);
    t.teardown(() => a.close());
    await a.roundTrip(Parse('', 'SELECT 1'), Sync);
    const bad = await a.roundTrip(Parse('', 'SELEC 1'), Sync);
    t.equal(errorOf(bad)?.C, '42601');
    t.equal(errorOf(await a.roundTrip(Bind(''), Execute(), Sync))?.C, '26000');
  });

  t.test(`${target}: 8 clients x 60 rounds of the lib/pq pattern each see only their own results`, async (t) => {
    const wrong: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const w = await Wire.open(port, login);
        try {
          for (let r = 0; r < 60; r++) {
            await w.roundTrip(Parse('', `SELECT ${i}::int AS client, $1::int AS round`), Describe('S', ''), Sync);
            const rows = rowsOf(await w.roundTrip(Bind('', [String(r)]), Execute(), Sync));
            if (JSON.stringify(rows) !== JSON.stringify([[String(i), String(r)]])) wrong.push(`client ${i} round ${r}: ${JSON.stringify(rows)}`);
          }
        } finally {
          w.close();
        }
      }),
    );
    t.same(wrong.slice(0, 5), [], 'every answer was the client’s own');
  });
}

t.test('session mode: the unnamed statement stays on the session’s server', async (t) => {
  const s = await startPoolEnv({ mode: 'session', size: 1 }, { pg: env.pg });
  t.teardown(() => s.porter.stop());
  const a = await Wire.open(s.porter.port, login);
  t.teardown(() => a.close());
  await a.roundTrip(Parse('', "SELECT 'mine', $1::int"), Describe('S', ''), Sync);
  t.same(rowsOf(await a.roundTrip(Bind('', ['3']), Execute(), Sync)), [['mine', '3']]);
});
