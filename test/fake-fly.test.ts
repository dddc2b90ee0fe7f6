// Contract tests for the fake Machines API: routes, auth, 404/408/412/429, transient states, the call log, fault injection, and the real PostgreSQL it drives.
import t from 'tap';
import { FakeFly } from './fixtures/fake-fly.js';
import { PostgresFixture } from './fixtures/postgres.js';

const APP = 'acme-db';
const ID = '3d8d413b29d089';

async function api(fake: FakeFly, method: string, path: string, token: string | null = fake.token ?? null) {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(fake.url + path, { method, headers });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, retryAfter: res.headers.get('retry-after') };
}
const m = (rest = '') => `/v1/apps/${APP}/machines/${ID}${rest}`;

t.test('fake Machines API', async (t) => {
  const pg = await PostgresFixture.start();
  t.teardown(() => pg.destroy());
  const fake = await FakeFly.start({ transitionMs: 50, rateLimit: false, getRateLimit: false });
  t.teardown(() => fake.close());
  await fake.addMachine({ app: APP, id: ID, pg });
  await fake.addMachine({ app: APP, id: 'broken0', state: 'failed' });

  t.test('bearer token: 401 without it or with a wrong one', async (t) => {
    t.equal((await api(fake, 'GET', m(), null)).status, 401);
    t.equal((await api(fake, 'GET', m(), 'wrong')).status, 401);
    t.equal((await api(fake, 'GET', m())).status, 200);
  });

  t.test('404 for an unknown machine, an app that does not own it, an unknown route', async (t) => {
    t.equal((await api(fake, 'GET', `/v1/apps/${APP}/machines/nope`)).status, 404);
    t.equal((await api(fake, 'GET', `/v1/apps/other-app/machines/${ID}`)).status, 404);
    t.equal((await api(fake, 'POST', m('/explode'))).status, 404);
    t.equal((await api(fake, 'GET', m('/start'))).status, 405, 'start is a POST');
  });

  t.test('get machine returns the documented fields', async (t) => {
    const { body } = await api(fake, 'GET', m());
    t.match(body, { id: ID, state: 'started', region: String, instance_id: String, private_ip: /^fdaa:/ });
  });

  t.test('wait validates its parameters and answers 200 at once when the state is already reached', async (t) => {
    t.equal((await api(fake, 'GET', m('/wait?state=started&timeout=0'))).status, 400);
    t.equal((await api(fake, 'GET', m('/wait?state=started&timeout=61'))).status, 400);
    t.equal((await api(fake, 'GET', m('/wait?state=sleeping&timeout=1'))).status, 400);
    t.equal((await api(fake, 'GET', m('/wait?state=started&timeout=1'))).status, 200);
  });

  t.test('wait answers 408 when the timeout passes first', async (t) => {
    const r = await api(fake, 'GET', m('/wait?state=suspended&timeout=1'));
    t.equal(r.status, 408);
    const call = fake.calls.at(-1)!;
    t.equal(call.action, 'wait');
    t.ok(call.ms >= 900, `the server waited (${call.ms} ms) before answering 408`);
  });

  t.test('suspend: transient suspending, then suspended with every PostgreSQL process stopped', async (t) => {
    const r = await api(fake, 'POST', m('/suspend'));
    t.same(r.body, { ok: true });
    t.equal(fake.state(ID), 'suspending', 'transient state right after the call');
    t.equal((await api(fake, 'GET', m('/wait?state=suspended&timeout=5'))).status, 200);
    t.equal(fake.state(ID), 'suspended');
    t.equal(pg.processState(), 'T', 'postmaster stopped by SIGSTOP');
    t.ok(pg.childPids().length > 0);
    t.equal(fake.transitions.filter((x) => x.machine === ID).map((x) => x.to).join(','), 'suspending,suspended');
  });

  t.test('start from suspended resumes PostgreSQL', async (t) => {
    const r = await api(fake, 'POST', m('/start'));
    t.equal(r.status, 200);
    t.equal(r.body.previous_state, 'suspended');
    t.equal(fake.state(ID), 'starting');
    t.equal((await api(fake, 'GET', m('/wait?state=started&timeout=5'))).status, 200);
    t.not(pg.processState(), 'T');
    t.equal(pg.sql('select 1'), '1', 'PostgreSQL answers again');
  });

  t.test('start while suspending wins: the machine ends up started', async (t) => {
    await api(fake, 'POST', m('/suspend'));
    t.equal(fake.state(ID), 'suspending');
    const r = await api(fake, 'POST', m('/start'));
    t.equal(r.body.previous_state, 'suspending');
    t.equal((await api(fake, 'GET', m('/wait?state=started&timeout=5'))).status, 200);
    await new Promise((r) => setTimeout(r, 150)); // past the superseded suspend's transition time
    t.equal(fake.state(ID), 'started');
    t.equal(pg.sql('select 2'), '2');
  });

  t.test('412 for impossible transitions', async (t) => {
    const failed = await api(fake, 'POST', `/v1/apps/${APP}/machines/broken0/start`);
    t.equal(failed.status, 412);
    t.match(failed.body.error, /failed_precondition/);
    t.equal((await api(fake, 'POST', `/v1/apps/${APP}/machines/broken0/suspend`)).status, 412);
  });

  t.test('stop, then a cold start launches PostgreSQL again; suspending a stopped machine is 412', async (t) => {
    t.same((await api(fake, 'POST', m('/stop'))).body, { ok: true });
    t.equal(fake.state(ID), 'stopping');
    t.equal((await api(fake, 'GET', m('/wait?state=stopped&timeout=10'))).status, 200);
    t.equal(pg.processState(), undefined, 'postmaster gone');
    t.equal((await api(fake, 'POST', m('/suspend'))).status, 412);
    const r = await api(fake, 'POST', m('/start'));
    t.equal(r.body.previous_state, 'stopped');
    t.equal((await api(fake, 'GET', m('/wait?state=started&timeout=30'))).status, 200);
    t.equal(pg.sql('select 3'), '3', 'a fresh postmaster answers');
  });

  t.test('fault injection: the next N requests (optionally of one action) fail; latency is added', async (t) => {
    fake.failNext(2, { status: 503, action: 'get' });
    fake.failNext(1, { status: 429, retryAfter: '7' });
    const first = await api(fake, 'POST', m('/start')); // the untargeted 429 applies to any action
    t.equal(first.status, 429);
    t.equal(first.retryAfter, '7');
    t.equal((await api(fake, 'GET', m())).status, 503);
    t.equal((await api(fake, 'GET', m())).status, 503);
    t.equal((await api(fake, 'GET', m())).status, 200);
    fake.latencyFor.get = 200;
    await api(fake, 'GET', m());
    t.ok(fake.calls.at(-1)!.ms >= 190, 'the answer was delayed');
    fake.latencyFor.get = 0;
  });

  t.test('the call log records every request', async (t) => {
    t.ok(fake.count('start') >= 4);
    t.ok(fake.count('get', 503) === 2);
    t.ok(fake.calls.every((c) => typeof c.at === 'number' && typeof c.status === 'number' && c.path.startsWith('/')));
    t.ok(fake.calls.some((c) => c.status === 401 && c.action === 'get'), 'refused calls are logged too');
  });
});

t.test('rate limit: 1/s per action per machine with a burst of 3, then 429 with Retry-After', async (t) => {
  const fake = await FakeFly.start();
  t.teardown(() => fake.close());
  await fake.addMachine({ app: APP, id: ID }); // no PostgreSQL: state changes only
  const codes: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 5; i++) {
    const r = await api(fake, 'POST', m('/start'));
    codes.push(r.status);
    if (r.status === 429) retryAfter ??= r.retryAfter;
  }
  t.same(codes, [200, 200, 200, 429, 429]);
  t.ok(Number(retryAfter) >= 1, `Retry-After ${retryAfter}`);
  t.equal((await api(fake, 'POST', m('/suspend'))).status, 200, 'another action has its own bucket');
  t.equal((await api(fake, 'GET', m())).status, 200, 'so has get');
  await new Promise((r) => setTimeout(r, Number(retryAfter) * 1000));
  t.equal((await api(fake, 'POST', m('/start'))).status, 200, 'allowed again after Retry-After');
  t.equal(fake.count('start', 429), 2);
});
