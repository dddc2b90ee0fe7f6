// With two workers, an allowlist edit through the admin API (written by the supervisor) is enforced on every worker within a second.
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';
import { adminCall } from './fixtures/admin-http.js';
import { sleep } from './fixtures/ports.js';

type PgError = Error & { code?: string };

async function tryConnect(conn: pg.ClientConfig): Promise<string> {
  const c = new pg.Client(conn);
  c.on('error', () => {});
  try {
    await c.connect();
    await c.end();
    return 'admitted';
  } catch (e) {
    return (e as PgError).code ?? 'error';
  }
}

t.test('removing and restoring 127.0.0.1: every worker follows within a second', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 1 }, { config: { workers: 2, netrules: { defaultPolicy: 'allow' } } });
  t.teardown(() => env.stop());
  t.equal((await adminCall(env.porter, 'PUT', '/v1/tenants/demo/allowlist', { entries: ['127.0.0.1'] })).status, 200);
  await sleep(1000);
  const before = [];
  for (let i = 0; i < 4; i++) before.push(await tryConnect(env.conn));
  t.same(before, ['admitted', 'admitted', 'admitted', 'admitted'], 'admitted on both workers');

  t.equal((await adminCall(env.porter, 'PUT', '/v1/tenants/demo/allowlist', { entries: ['203.0.113.0/24'] })).status, 200, 'edit written');
  await sleep(1000);
  // Round-robin: consecutive connections alternate between the two workers.
  const after = [];
  for (let i = 0; i < 4; i++) after.push(await tryConnect(env.conn));
  t.same(after, ['28000', '28000', '28000', '28000'], 'refused on both workers a second after the edit');

  t.equal((await adminCall(env.porter, 'POST', '/v1/tenants/demo/allowlist/entries', { entries: ['127.0.0.1'] })).status, 200, 'entry added back');
  await sleep(1000);
  const again = [];
  for (let i = 0; i < 4; i++) again.push(await tryConnect(env.conn));
  t.same(again, ['admitted', 'admitted', 'admitted', 'admitted'], 'admitted again on both workers');
  t.match(await env.porter.metrics(), /pgporter_allowlist_entries\{tenant="demo"\} 2\b/, 'the entry count is the node’s, not summed');
});
