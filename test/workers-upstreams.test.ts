// With two workers, routed tenants work on both, and the supervisor's admin API and /metrics show each upstream once, as one worker saw it last.
import t from 'tap';
import { psql } from './fixtures/clients.js';
import { startHaEnv } from './fixtures/replication.js';
import { waitFor } from './fixtures/ports.js';

const env = await startHaEnv({ config: { workers: 2 } });
t.teardown(() => env.stop());

t.test('GET /v1/upstreams and the upstream metrics through the supervisor', async (t) => {
  // Several clients, so both workers route some (round-robin or the kernel's spread).
  for (let i = 0; i < 6; i++) {
    t.equal((await psql(env.url(), 'SELECT pg_is_in_recovery()')).stdout, 'f', 'writes on the primary');
    t.equal((await psql(env.url({}, 'postgres-ro'), 'SELECT pg_is_in_recovery()')).stdout, 't', 'reads on the replica');
  }
  const get = async () => {
    const res = await fetch(`http://127.0.0.1:${env.porter.adminPort}/v1/upstreams?tenant=ha`, { headers: { authorization: 'Bearer test-token-0123456789' } });
    return { status: res.status, body: (await res.json()) as { upstreams: Array<{ name: string; role: string }> } };
  };
  const r = await waitFor(async () => {
    const g = await get();
    return g.status === 200 && g.body.upstreams.length === 2 ? g : undefined;
  }, 'the supervisor lists the upstreams', 10_000);
  t.same(r.body.upstreams.map((u) => [u.name, u.role]).sort(), [['one', 'primary'], ['two', 'standby']], 'each upstream once, with its role');
  const m = await env.porter.metrics();
  t.match(m, /pgporter_upstream_role\{tenant="ha",upstream="one",role="primary"\} 1\n/, 'role gauge is 1, not a sum over workers');
  t.match(m, /pgporter_upstream_up\{tenant="ha",upstream="two"\} 1\n/);
});
