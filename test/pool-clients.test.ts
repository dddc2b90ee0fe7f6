// Real drivers through transaction pooling: porsager's postgres (named statements by default) and pg with named statements, 200 clients on 5 servers.
import t from 'tap';
import postgres from 'postgres';
import pg from 'pg';
import { USERS } from './fixtures/postgres.js';
import { startPoolEnv } from './fixtures/pool-env.js';

const env = await startPoolEnv({ mode: 'transaction', size: 5, queryWaitTimeout: '60s', preparedStatementCacheSize: 4 });
t.teardown(() => env.stop());
env.pg.sql(`CREATE TABLE items (client int, n int, tag text); GRANT ALL ON items TO ${USERS.trust.user};`);

const CLIENTS = 200;
const ROUNDS = 3;

t.test('postgres (porsager): 200 clients, transactions with named statements, on 5 servers', async (t) => {
  const results = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const sql = postgres({ ...env.conn, max: 1, connect_timeout: 60, onnotice: () => {} });
      try {
        const seen: number[] = [];
        for (let r = 0; r < ROUNDS; r++) {
          const count = await sql.begin(async (tx) => {
            await tx`INSERT INTO items (client, n, tag) VALUES (${i}, ${r}, 'porsager')`;
            // Different statements per round so the 4-entry server cache evicts and re-prepares.
            const [row] = await tx.unsafe(`SELECT count(*)::int AS c, ${r} AS r FROM items WHERE client = $1 AND tag = 'porsager'`, [i], { prepare: true });
            return row!.c as number;
          });
          seen.push(count);
        }
        const [{ s }] = await sql`SELECT sum(n)::int AS s FROM items WHERE client = ${i} AND tag = 'porsager'`;
        return { seen, s };
      } finally {
        await sql.end({ timeout: 5 });
      }
    }),
  );
  const expectSeen = Array.from({ length: ROUNDS }, (_, r) => r + 1);
  t.equal(results.filter((r) => JSON.stringify(r.seen) === JSON.stringify(expectSeen)).length, CLIENTS, 'every client saw its own rows grow 1, 2, 3');
  t.equal(results.filter((r) => r.s === (ROUNDS * (ROUNDS - 1)) / 2).length, CLIENTS, 'every client summed its rows');
  t.equal(Number(env.pg.sql(`SELECT count(*) FROM items WHERE tag = 'porsager'`)), CLIENTS * ROUNDS, 'all rows committed');
});

t.test('pg with named statements: 200 clients, transactions, on 5 servers', async (t) => {
  const results = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const c = new pg.Client({ ...env.conn, connectionTimeoutMillis: 60_000 });
      await c.connect();
      try {
        const seen: number[] = [];
        for (let r = 0; r < ROUNDS; r++) {
          await c.query('BEGIN');
          await c.query({ name: 'ins', text: `INSERT INTO items (client, n, tag) VALUES ($1, $2, 'pg')`, values: [i, r] });
          const res = await c.query({ name: `count${r}`, text: `SELECT count(*)::int AS c FROM items WHERE client = $1 AND tag = 'pg' AND ${r} = ${r}`, values: [i] });
          await c.query('COMMIT');
          seen.push(res.rows[0].c as number);
        }
        // Reused name outside a transaction: lands on any server, must still work.
        const again = await c.query({ name: 'count0', text: `SELECT count(*)::int AS c FROM items WHERE client = $1 AND tag = 'pg' AND 0 = 0`, values: [i] });
        return { seen, again: again.rows[0].c as number };
      } finally {
        await c.end();
      }
    }),
  );
  t.equal(results.filter((r) => r.seen.join() === '1,2,3' && r.again === ROUNDS).length, CLIENTS, 'every client saw exactly its own rows');
  t.equal(Number(env.pg.sql(`SELECT count(*) FROM items WHERE tag = 'pg'`)), CLIENTS * ROUNDS, 'all rows committed');
  const servers = Number(env.pg.sql(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${USERS.trust.user}'`));
  t.ok(servers <= 5, `at most 5 server connections (saw ${servers})`);
});

t.test('an error inside a batch leaves the pool usable and the statement valid', async (t) => {
  const c = new pg.Client(env.conn);
  await c.connect();
  t.teardown(() => c.end());
  await t.rejects(c.query({ name: 'bad', text: 'SELECT 1/$1::int AS x', values: [0] }), /division by zero/);
  const ok = await c.query({ name: 'bad', text: 'SELECT 1/$1::int AS x', values: [1] });
  t.equal(ok.rows[0].x, 1);
  await t.rejects(c.query({ name: 'syntax', text: 'SELEC 1' }), /syntax error/);
  const after = await c.query({ name: 'fine', text: 'SELECT 42 AS x' });
  t.equal(after.rows[0].x, 42);
});
