// With two workers, SIGTERM drains every worker (transactions under way finish, sessions end with 57P01) and the node exits 0.
import t from 'tap';
import { startPoolEnv } from './fixtures/pool-env.js';
import { clientsOnEveryWorker, workerOf } from './fixtures/workers.js';

t.test('SIGTERM: a transaction on each worker commits, every client gets 57P01, exit 0', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 4 }, { config: { workers: 2 } });
  t.teardown(() => env.stop());
  env.pg.sql('CREATE TABLE drained (w int); GRANT ALL ON drained TO PUBLIC');
  const clients = await clientsOnEveryWorker(env.conn, 2, 1);
  const ended: Array<Promise<string | undefined>> = clients.map((c) => new Promise((resolve) => c.on('error', (e: Error & { code?: string }) => resolve(e.code))));
  const inTx = [0, 1].map((w) => clients.find((c) => workerOf(c) === w)!);
  for (const c of inTx) await c.query('BEGIN; INSERT INTO drained VALUES (1)');
  const exited = new Promise<number | null>((resolve) => env.porter.proc.once('exit', (code) => resolve(code)));
  env.porter.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  for (const c of inTx) await c.query('INSERT INTO drained VALUES (2); COMMIT');
  t.equal(env.pg.sql('SELECT count(*) FROM drained'), '4', 'both transactions committed during the drain');
  const codes = await Promise.all(ended);
  t.same([...new Set(codes)], ['57P01'], 'every client ended with 57P01');
  t.equal(await exited, 0, 'the node exits 0');
});
