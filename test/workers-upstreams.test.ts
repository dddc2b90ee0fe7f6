// With two workers, the supervisor's admin API and /metrics show the routed upstreams once each, merged from every worker's probes.
import t from 'tap';
import { startHaEnv } from './fixtures/replication.js';
import { waitFor } from './fixtures/ports.js';
import { childPids } from './fixtures/workers.js';

const env = await startHaEnv({ config: { workers: 2 } });
t.teardown(() => env.stop());
const auth = { headers: { authorization: 'Bearer test-token-0123456789' } };

t.test('GET /v1/upstreams and /v1/tenants/ha/upstreams: each upstream once, with the role the probes found', async (t) => {
  t.equal(childPids(env.porter.pid!).length, 2, 'two worker processes');
  const body = await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${env.porter.adminPort}/v1/tenants/ha/upstreams`, auth);
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    const b = (await r.json()) as { upstreams: { name: string; role: string }[] };
    return b.upstreams.some((u) => u.role === 'unknown') ? undefined : b;
  }, 'roles probed', 10_000);
  t.same(body.upstreams.map((u) => [u.name, u.role]), [['one', 'primary'], ['two', 'standby']], 'one entry per upstream, not one per worker');
  const all = (await (await fetch(`http://127.0.0.1:${env.porter.adminPort}/v1/upstreams?tenant=ha`, auth)).json()) as { upstreams: { name: string }[] };
  t.same(all.upstreams.map((u) => u.name), ['one', 'two'], 'GET /v1/upstreams?tenant=ha lists the same two');
  const missing = await fetch(`http://127.0.0.1:${env.porter.adminPort}/v1/tenants/nope/upstreams`, auth);
  t.equal(missing.status, 404, 'an unknown tenant is 404');
});

t.test('/metrics: a role flag is 1, not the number of workers that see it', async (t) => {
  const m = await env.porter.metrics();
  t.match(m, /pgporter_upstream_role\{tenant="ha",upstream="one",role="primary"\} 1\n/);
  t.match(m, /pgporter_upstream_role\{tenant="ha",upstream="two",role="standby"\} 1\n/);
  t.match(m, /pgporter_upstream_up\{tenant="ha",upstream="one"\} 1\n/);
});
