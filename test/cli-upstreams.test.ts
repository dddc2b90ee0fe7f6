// The tenants command and the admin API edit a tenant's upstream list and routing live: --upstreams replaces the single upstream, and back; bad lists are refused with the field named.
import t from 'tap';
import { acmeStore, cliAdmin } from './fixtures/cli.js';

t.test('upstream list through the CLI', async (t) => {
  const store = acmeStore();
  const admin = await cliAdmin(store);
  t.teardown(() => admin.close());
  const run = (argv: string[]) => admin.run('tenants', argv);

  let r = await run(['update', 'acme', '--upstreams', 'one=10.0.0.5:5432@ams/primary,two=[fdaa::2]:5433@fra', '--default-target', 'prefer-standby']);
  t.equal(r.code, 0, r.err);
  const t1 = store.getTenant('acme')!;
  t.equal(t1.upstream, undefined, 'the single upstream is replaced by the list');
  t.same(
    t1.upstreams?.map((u) => [u.name, u.host, u.port, u.region, u.role]),
    [
      ['one', '10.0.0.5', 5432, 'ams', 'primary'],
      ['two', 'fdaa::2', 5433, 'fra', undefined],
    ],
  );
  t.equal(t1.routing?.defaultTarget, 'prefer-standby');
  r = await run(['list']);
  t.match(r.out, /10\.0\.0\.5:5432,\[fdaa::2\]:5433/, 'list shows every upstream');

  r = await run(['update', 'acme', '--upstreams', 'one=10.0.0.5:5432@ams/primary#pg-ams/148e272b,two=10.0.0.6:5432@fra#pg-fra/d8d9e4a1:5m']);
  t.equal(r.code, 0, r.err);
  t.same(
    store.getTenant('acme')!.upstreams?.map((u) => [u.name, u.fly?.app, u.fly?.machineId, u.fly?.suspendAfterIdle]),
    [
      ['one', 'pg-ams', '148e272b', undefined],
      ['two', 'pg-fra', 'd8d9e4a1', 300_000],
    ],
    'each upstream names its own Fly machine (and when to suspend it)',
  );
  r = await run(['update', 'acme', '--upstreams', 'one=10.0.0.5:5432#pg-ams']);
  t.equal(r.code, 2, 'a machine without its app/machine pair: usage error');
  t.match(r.err, /#app\/machine/);

  r = await run(['update', 'acme', '--upstreams', 'a=h:1,a=h:2']);
  t.equal(r.code, 1, 'duplicate names refused');
  t.match(r.err, /duplicate upstream name "a"/);
  r = await run(['update', 'acme', '--upstreams', 'nohost']);
  t.equal(r.code, 2, 'malformed spec: usage error');
  r = await run(['update', 'acme', '--read-fallback', 'sometimes']);
  t.equal(r.code, 1, 'bad routing value refused by the API');
  t.match(r.err, /routing\.readFallback/);

  r = await run(['update', 'acme', '--upstream-host', '10.0.0.9', '--upstream-port', '5432']);
  t.equal(r.code, 0, r.err);
  t.same([store.getTenant('acme')!.upstream?.host, store.getTenant('acme')!.upstreams], ['10.0.0.9', undefined], 'and back to a single upstream');

  r = await run(['create', 'beta', '--upstreams', '127.0.0.1:5432,127.0.0.1:5433']);
  t.equal(r.code, 0, r.err);
  t.equal(store.getTenant('beta')!.upstreams?.length, 2, 'created with a list');
  r = await run(['upstreams', 'beta']);
  t.equal(r.code, 1, 'upstreams needs the running pgporter (this admin server has no router)');
});
