// Startup parameters follow the client onto every server it lands on, with a small pool shared by many clients that ask for different values.
import t from 'tap';
import pg from 'pg';
import postgres from 'postgres';
import { startPoolEnv } from './fixtures/pool-env.js';
import { USERS } from './fixtures/postgres.js';

const env = await startPoolEnv({ mode: 'transaction', size: 2 });
t.teardown(() => env.stop());
env.pg.sql(`CREATE SCHEMA s0; CREATE SCHEMA s1; CREATE SCHEMA s2; GRANT ALL ON SCHEMA s0, s1, s2 TO ${USERS.trust.user};`);

t.test('application_name and search_path hold across many transactions on 2 servers', async (t) => {
  const CLIENTS = 12;
  const ROUNDS = 10;
  const bad: string[] = [];
  const pidsSeen = new Set<number>();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const sql = postgres({
        ...env.conn,
        max: 1,
        onnotice: () => {},
        connection: { application_name: `client-${i}`, search_path: `s${i % 3}, public` },
      });
      try {
        for (let r = 0; r < ROUNDS; r++) {
          const [row] = await sql`SELECT current_setting('application_name') AS app, current_setting('search_path') AS sp, current_schema() AS cs, pg_backend_pid() AS pid`;
          pidsSeen.add(row!.pid as number);
          if (row!.app !== `client-${i}`) bad.push(`client ${i} round ${r}: application_name ${row!.app}`);
          if (row!.cs !== `s${i % 3}`) bad.push(`client ${i} round ${r}: current_schema ${row!.cs} (search_path ${row!.sp})`);
        }
      } finally {
        await sql.end({ timeout: 1 });
      }
    }),
  );
  t.same(bad, [], 'every query saw the client’s own parameters');
  t.ok(pidsSeen.size <= 2 && pidsSeen.size >= 1, `served by the 2 pooled servers (${pidsSeen.size})`);
});

t.test("a client's own SET of a reported parameter follows it to other servers", async (t) => {
  const c = new pg.Client(env.conn);
  await c.connect();
  t.teardown(() => c.end());
  await c.query(`SET application_name = 'changed-by-client'`);
  const others = Array.from({ length: 4 }, () => new pg.Client({ ...env.conn, application_name: 'other' }));
  await Promise.all(others.map((o) => o.connect()));
  t.teardown(() => Promise.all(others.map((o) => o.end())));
  for (let r = 0; r < 10; r++) {
    // Others keep the servers busy so this client changes servers.
    await Promise.all([...others.map((o) => o.query('SELECT pg_sleep(0.005)')), c.query('SELECT 1')]);
    const v = (await c.query(`SELECT current_setting('application_name') AS v`)).rows[0].v;
    if (v !== 'changed-by-client') return t.fail(`round ${r}: application_name ${v}`);
  }
  t.pass('application_name stayed the client’s own');
});
