// The routing rules as pure functions: libpq's targets over roles and bans, split brain, read fallback, region and load preference, growing bans, and reading the target from startup options.
import t from 'tap';
import { findWriter, nextBan, roleOf, route, type Candidate } from '../src/upstream/index.js';
import { targetOf } from '../src/pool/target-choice.js';
import type { ClientSession } from '../src/pool/types.js';

const c = (name: string, role: Candidate['role'], extra: Partial<Candidate> = {}): Candidate => ({ name, role, banned: false, region: undefined, hint: undefined, busy: 0, ...extra });
const opts = { localRegion: undefined, balance: 'least-busy' as const, readFallback: 'primary' as const, preferredPrimary: undefined, rand: () => 0 };

t.test("roles follow libpq's read-write rule", async (t) => {
  t.equal(roleOf({ inRecovery: false, readOnly: false }), 'primary');
  t.equal(roleOf({ inRecovery: true, readOnly: false }), 'standby');
  t.equal(roleOf({ inRecovery: false, readOnly: true }), 'fenced', 'read-only but not in recovery: fenced, not a writer');
  t.equal(roleOf({ inRecovery: undefined, readOnly: false }), 'unknown');
});

t.test('targets', async (t) => {
  const both = [c('p', 'primary'), c('r', 'standby')];
  t.same(route(both, 'read-write', opts), { t: 'ok', name: 'p', readOnlySession: false });
  t.same(route(both, 'primary', opts), { t: 'ok', name: 'p', readOnlySession: false });
  t.same(route(both, 'read-only', opts), { t: 'ok', name: 'r', readOnlySession: false });
  t.same(route(both, 'standby', opts), { t: 'ok', name: 'r', readOnlySession: false });
  t.same(route(both, 'prefer-standby', opts), { t: 'ok', name: 'r', readOnlySession: false });
  const noReplica = [c('p', 'primary'), c('r', 'down')];
  t.same(route(noReplica, 'read-only', opts), { t: 'ok', name: 'p', readOnlySession: true }, 'fallback to the writer, read-only');
  t.equal(route(noReplica, 'read-only', { ...opts, readFallback: 'refuse' }).t, 'refuse', 'or refused');
  t.same(route(noReplica, 'prefer-standby', { ...opts, readFallback: 'refuse' }), { t: 'ok', name: 'p', readOnlySession: false }, 'prefer-standby always may use the writer');
  const fenced = [c('p', 'fenced'), c('r', 'standby')];
  t.equal(route(fenced, 'read-write', opts).t, 'wait', 'no writer: wait for one');
  t.same(route(fenced, 'any', opts), { t: 'ok', name: 'r', readOnlySession: false }, 'any never picks a fenced server');
  t.equal(route([c('p', 'fenced'), c('r', 'down')], 'read-only', opts).t, 'wait', 'a fenced server serves no reads either');
});

t.test('split brain', async (t) => {
  const two = [c('a', 'primary'), c('b', 'primary')];
  t.same(findWriter(two, undefined), { split: ['a', 'b'] });
  t.equal(route(two, 'read-write', opts).t, 'refuse', 'writes refused');
  t.same(findWriter(two, 'b'), { name: 'b' }, 'unless one is preferred');
  t.same(findWriter([c('a', 'primary', { hint: 'primary' }), c('b', 'primary')], undefined), { name: 'a' }, 'or the only one hinted primary');
  t.same(findWriter([c('a', 'primary', { banned: true }), c('b', 'primary')], undefined), { split: ['a', 'b'] }, 'a ban does not hide a second writer');
});

t.test('bans, region, load', async (t) => {
  const reps = [c('p', 'primary'), c('r1', 'standby', { banned: true }), c('r2', 'standby')];
  t.equal((route(reps, 'read-only', opts) as { name: string }).name, 'r2', 'banned replica skipped');
  const allBanned = [c('p', 'primary'), c('r1', 'standby', { banned: true })];
  t.equal((route(allBanned, 'read-only', opts) as { name: string }).name, 'r1', 'every candidate banned: bans lifted');
  const regions = [c('p', 'primary'), c('ams', 'standby', { region: 'ams', busy: 5 }), c('fra', 'standby', { region: 'fra' })];
  t.equal((route(regions, 'read-only', { ...opts, localRegion: 'ams' }) as { name: string }).name, 'ams', 'FLY_REGION first, even when busier');
  t.equal((route(regions, 'read-only', opts) as { name: string }).name, 'fra', 'least busy otherwise');
  const sleepy = [c('p', 'primary'), c('a', 'standby', { asleep: true }), c('b', 'standby', { busy: 9 })];
  t.equal((route(sleepy, 'read-only', opts) as { name: string }).name, 'b', 'an awake replica before a suspended one');
  let prev: ReturnType<typeof nextBan> | undefined;
  const lengths: number[] = [];
  for (let i = 0; i < 6; i++) {
    prev = nextBan(prev, 0, 2000, 30_000, () => 0.5);
    lengths.push(prev.until);
  }
  t.same(lengths, [2000, 4000, 8000, 16_000, 30_000, 30_000], 'bans grow 2 s .. 30 s');
});

t.test('the target from startup', async (t) => {
  const session = (database: string, params: Record<string, string>, routed = true) =>
    ({ database, params: new Map(Object.entries(params)), tenant: { upstreams: routed ? [] : undefined, routing: { defaultTarget: 'read-write' } } }) as unknown as ClientSession;
  const a = targetOf(session('app', { options: '-c target_session_attrs=read-only -c search_path=x\\ y' }));
  t.equal(a.target, 'read-only');
  t.equal(a.session.params.get('options'), '-c search_path=x\\ y', 'removed from options, the rest kept as written');
  const b = targetOf(session('app-ro', {}));
  t.same([b.target, b.session.database], ['read-only', 'app'], '-ro suffix');
  const c2 = targetOf(session('app-ro', {}, false));
  t.same([c2.target, c2.session.database], ['read-write', 'app-ro'], 'a single upstream keeps its database name');
  const d = targetOf(session('app', { options: '--target-session-attrs=standby' }));
  t.same([d.target, d.session.params.has('options')], ['standby', false]);
  t.throws(() => targetOf(session('app', { options: '-c target_session_attrs=nope' })), { code: 'TARGET_INVALID', sqlstate: '22023' });
});
