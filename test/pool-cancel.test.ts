// Cancellation through the pool: porsager's query.cancel() ends pg_sleep(10) with 57014 on whichever server serves the client, in both modes.
import t from 'tap';
import postgres from 'postgres';
import { startPoolEnv } from './fixtures/pool-env.js';

for (const mode of ['transaction', 'session'] as const) {
  t.test(`${mode} mode: cancel ends pg_sleep with 57014`, async (t) => {
    const env = await startPoolEnv({ mode, size: mode === 'session' ? 5 : 2 }); // session mode: one server per client
    t.teardown(() => env.stop());
    // Several clients so the sleeping one is not simply on the first server.
    const others = Array.from({ length: 3 }, () => postgres({ ...env.conn, max: 1, onnotice: () => {} }));
    t.teardown(() => Promise.all(others.map((s) => s.end({ timeout: 1 }))));
    await Promise.all(others.map((s) => s`SELECT 1`));
    const sql = postgres({ ...env.conn, max: 1, onnotice: () => {} });
    t.teardown(() => sql.end({ timeout: 1 }));
    await sql`SELECT 1`;

    const q = sql`SELECT pg_sleep(10)`;
    const outcome = q.then(
      () => ({ ended: 'resolved' as const, code: undefined }),
      (err: { code?: string }) => ({ ended: 'rejected' as const, code: err.code }),
    );
    // The sleep must be running on a server before the cancel can hit it.
    await env.porter.waitForLog({ event: 'accepted' });
    for (let i = 0; i < 100 && env.pg.sql(`SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(10)' AND state = 'active'`) !== '1'; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    q.cancel();
    let guard: NodeJS.Timeout | undefined;
    const timedOut = new Promise<{ ended: 'guard'; code: undefined }>((r) => (guard = setTimeout(() => r({ ended: 'guard', code: undefined }), 9000)));
    const r = await Promise.race([outcome, timedOut]);
    clearTimeout(guard);
    t.equal(r.ended, 'rejected', 'the query ended before pg_sleep(10) could finish');
    t.equal(r.code, '57014', 'query_canceled');
    const [row] = await sql`SELECT 7 AS x`;
    t.equal(row!.x, 7, 'the connection is usable after the cancel');
  });
}

t.test('a cancel with an unknown key is ignored', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 1 });
  t.teardown(() => env.stop());
  const { connect } = await import('node:net');
  const sock = connect({ host: '127.0.0.1', port: env.porter.port });
  const msg = Buffer.alloc(16);
  msg.writeInt32BE(16, 0);
  msg.writeInt32BE(80877102, 4);
  msg.writeInt32BE(12345, 8);
  msg.writeInt32BE(67890, 12);
  await new Promise<void>((r) => sock.on('connect', () => sock.end(msg, () => r())));
  await new Promise<void>((r) => sock.on('close', () => r()));
  const sql = postgres({ ...env.conn, max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  const [row] = await sql`SELECT 1 AS x`;
  t.equal(row!.x, 1, 'pgporter still serves');
});
