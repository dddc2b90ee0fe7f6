// Startup settings through the pool: `options` parsed as PostgreSQL parses it, bad settings refuse the login as PostgreSQL does, and no client runs with another client's settings.
import t from 'tap';
import { startPoolEnv } from './fixtures/pool-env.js';
import { USERS } from './fixtures/postgres.js';
import { Query, Wire, rowsOf } from './fixtures/wire.js';

const env = await startPoolEnv({ mode: 'transaction', size: 1 });
t.teardown(() => env.stop());
const base = { user: USERS.trust.user, database: 'postgres' };
const targets = { direct: env.pg.port, pgporter: env.porter.port };

async function show(w: Wire, setting: string): Promise<string | null> {
  return rowsOf(await w.roundTrip(Query(`SELECT current_setting('${setting}')`)))[0]![0]!;
}

async function refusal(port: number, options: string): Promise<Record<string, string>> {
  try {
    const w = await Wire.open(port, { ...base, options });
    w.close();
    return {};
  } catch (err) {
    return (err as { fields?: Record<string, string> }).fields ?? {};
  }
}

for (const [target, port] of Object.entries(targets)) {
  t.test(`${target}: backslash escapes in options`, async (t) => {
    const w = await Wire.open(port, { ...base, options: '-c default_transaction_isolation=repeatable\\ read -c work_mem=5MB --application-name=a\\\\b' });
    t.teardown(() => w.close());
    t.equal(await show(w, 'default_transaction_isolation'), 'repeatable read', '"\\ " is a space');
    t.equal(await show(w, 'work_mem'), '5MB', 'the settings after it apply too');
    t.equal(await show(w, 'application_name'), 'a\\b', '"\\\\" is a backslash; --name-with-dashes=value');
  });

  t.test(`${target}: a setting PostgreSQL refuses refuses the login`, async (t) => {
    const banana = await refusal(port, '-c statement_timeout=banana');
    t.equal(banana.S, 'FATAL');
    t.equal(banana.C, '22023');
    t.equal(banana.M, 'invalid value for parameter "statement_timeout": "banana"');
    const unknown = await refusal(port, '-c no_such_setting=1');
    t.equal(unknown.S, 'FATAL');
    t.equal(unknown.C, '42704');
    t.equal(unknown.M, 'unrecognized configuration parameter "no_such_setting"');
    const noValue = await refusal(port, '-c work_mem');
    t.equal(noValue.C, '42601');
    t.equal(noValue.M, '-c work_mem requires a value');
    const stray = await refusal(port, 'work_mem=1MB');
    t.equal(stray.C, '42601');
    t.equal(stray.M, 'invalid command-line argument for server process: work_mem=1MB');
  });

  t.test(`${target}: a refused setting does not stick to the next client (pool of one server)`, async (t) => {
    await refusal(port, '-c work_mem=7MB -c statement_timeout=banana');
    const w = await Wire.open(port, base);
    t.teardown(() => w.close());
    t.equal(await show(w, 'work_mem'), '4MB', 'default work_mem');
  });
}

t.test('pgporter: clients take turns on one server and each sees only its own settings', async (t) => {
  const a = await Wire.open(env.porter.port, { ...base, options: '-c work_mem=7MB -c default_transaction_isolation=serializable' });
  const b = await Wire.open(env.porter.port, base);
  const c = await Wire.open(env.porter.port, { ...base, options: '-c work_mem=9MB' });
  t.teardown(() => (a.close(), b.close(), c.close()));
  for (let round = 0; round < 3; round++) {
    t.equal(await show(a, 'work_mem'), '7MB', `a, round ${round}`);
    t.equal(await show(a, 'default_transaction_isolation'), 'serializable');
    t.equal(await show(b, 'work_mem'), '4MB', `b gets the default, round ${round}`);
    t.equal(await show(b, 'default_transaction_isolation'), 'read committed');
    t.equal(await show(c, 'work_mem'), '9MB', `c, round ${round}`);
    t.equal(await show(c, 'default_transaction_isolation'), 'read committed');
  }
});

t.test("pgporter: a client's session SET in transaction mode never reaches the next client", async (t) => {
  const a = await Wire.open(env.porter.port, base);
  t.teardown(() => a.close());
  await a.roundTrip(Query('SET work_mem = 33MB'));
  await a.roundTrip(Query('BEGIN; SET statement_timeout = 12345; COMMIT'));
  const b = await Wire.open(env.porter.port, base);
  t.teardown(() => b.close());
  t.equal(await show(b, 'work_mem'), '4MB', 'SET by another client was reset');
  t.equal(await show(b, 'statement_timeout'), '0', 'SET inside a committed transaction was reset');
  t.equal(await show(a, 'work_mem'), '4MB', 'in transaction mode a session SET lasts one transaction (documented)');
});
