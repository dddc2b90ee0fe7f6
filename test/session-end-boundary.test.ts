// A session pgporter ends (tenant deleted) gets its error after the message being forwarded, never inside it, and the log says pgporter ended it.
import t from 'tap';
import { startPoolEnv } from './fixtures/pool-env.js';
import { USERS } from './fixtures/postgres.js';
import { Query, Wire, fields } from './fixtures/wire.js';

const env = await startPoolEnv({ mode: 'transaction', size: 2 });
t.teardown(() => env.stop());

t.test('tenant deleted while a large result streams: the stream ends with a whole ErrorResponse', async (t) => {
  const w = await Wire.open(env.porter.port, { user: USERS.trust.user, database: 'postgres' });
  t.teardown(() => w.close());
  // 1 MB rows: each DataRow spans many TCP chunks, so the end request lands while one is being forwarded.
  w.send(Query("SELECT repeat('x', 1000000) FROM generate_series(1, 200)"));
  await w.until((r) => r.type === 'D');
  w.socket.pause();
  await new Promise((r) => setTimeout(r, 200)); // the result backs up: pgporter is mid-DataRow towards this client
  const res = await fetch(`http://127.0.0.1:${env.porter.adminPort}/v1/tenants/demo`, {
    method: 'DELETE',
    headers: { authorization: 'Bearer test-token-0123456789' },
  });
  t.equal(res.status, 200, 'tenant deleted');
  w.socket.resume();
  await w.closedBy(20_000);
  t.equal(w.partialBytes, 0, 'the stream ended on a message boundary');
  t.notOk(w.malformed, 'every message was well formed');
  const last = w.replies.at(-1)!;
  t.equal(last.type, 'E', 'the last message is the ErrorResponse');
  t.equal(fields(last.body).C, '3D000');
  t.ok(w.replies.slice(0, -1).every((r) => r.type === 'D' || r.type === 'T'), 'only rows before it');
  t.ok(w.replies.filter((r) => r.type === 'D').every((r) => r.body.length === 2 + 4 + 1_000_000), 'every row arrived whole');
  const closed = await env.porter.waitForLog({ event: 'closed' });
  t.equal(closed.endedBy, 'pgporter', 'the log says pgporter ended it');
});
