// The real `pg` client logs in to a test-local server driven by ClientAuthenticator (SCRAM, md5, trust, failures), and the secret it yields logs in to a real PostgreSQL.
import t from 'tap';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import pg from 'pg';
import { ClientAuthenticator, CredentialResolver, MiniSession, type AuthDone, type AuthStep } from '../src/auth/index.js';
import { parseConfig } from '../src/config/index.js';
import { backendKeyData, readyForQuery, SSL_NO } from '../src/protocol/index.js';
import { PostgresFixture, USERS } from './fixtures/postgres.js';

const fixture = await PostgresFixture.start();
t.teardown(() => fixture.destroy());

const PG_AUTHID = 'SELECT rolname, rolpassword FROM pg_authid WHERE rolname = $1';
const upstream = { host: fixture.host, port: fixture.port };
const authQuery = { user: 'postgres', query: PG_AUTHID };
const config = parseConfig({
  tenants: [
    { id: 'scram', upstream, auth: { method: 'scram-sha-256', users: [{ name: 'cfg', password: 'cfg-pw' }], authQuery } },
    { id: 'md5', upstream, auth: { method: 'md5', authQuery } },
    { id: 'trust', upstream, auth: { method: 'trust', authQuery } },
  ],
});
const resolver = new CredentialResolver({ tenant: (id) => config.tenants.find((x) => x.id === id) });

/** What the server saw for each login: the outcome and, on success, who PostgreSQL says we are with the upstream secret. */
const outcomes: { user: string; tenant: string; done: AuthDone; upstreamUser?: string | null }[] = [];

/** A minimal front end: startup packet (database names the tenant), then ClientAuthenticator, then ReadyForQuery. */
function serve(socket: Socket): void {
  let buf = Buffer.alloc(0);
  let auth: ClientAuthenticator | undefined;
  let user = '';
  let tenant = '';
  let chain = Promise.resolve();
  socket.on('error', () => socket.destroy());

  const finish = async (step: AuthStep) => {
    const done = step.done!;
    const record: (typeof outcomes)[number] = { user, tenant, done };
    outcomes.push(record);
    if (!done.ok) {
      socket.end(done.error.toErrorResponse());
      return;
    }
    socket.write(step.reply!);
    if (user !== 'cfg') {
      // Every other user exists on the fixture: prove the secret pgporter learned logs in there.
      const s = await MiniSession.open({ ...upstream, user, database: 'postgres', secret: done.upstreamSecret, timeoutMs: 10_000 });
      record.upstreamUser = (await s.query('SELECT current_user')).rows[0]![0];
      s.close();
    }
    socket.write(Buffer.concat([backendKeyData(1, 2), readyForQuery('I')]));
  };

  const handle = async (type: number | undefined, body: Buffer) => {
    if (type === undefined) {
      const code = body.readInt32BE(0);
      if (code === 80877103) return void socket.write(SSL_NO);
      const fields = body.toString('utf8', 4).split('\0');
      const params: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length && fields[i] !== ''; i += 2) params[fields[i]!] = fields[i + 1]!;
      user = params.user!;
      tenant = params.database ?? user;
      const method = config.tenants.find((x) => x.id === tenant)!.auth.method;
      auth = new ClientAuthenticator({ method, credentials: resolver, tenantId: tenant, user });
      const step = await auth.start();
      if (step.done) return finish(step);
      socket.write(step.reply!);
      return;
    }
    if (type === 0x58) return void socket.end(); // Terminate
    if (type !== 0x70 || !auth) return void socket.destroy();
    const step = await auth.receive(body);
    if (step.done) return finish(step);
    socket.write(step.reply!);
  };

  let started = false;
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const typed = started;
      const head = typed ? 5 : 4;
      if (buf.length < head) return;
      const len = buf.readInt32BE(typed ? 1 : 0);
      const total = typed ? len + 1 : len;
      if (buf.length < total) return;
      const type = typed ? buf[0] : undefined;
      const body = buf.subarray(head, total);
      buf = buf.subarray(total);
      if (!typed && body.readInt32BE(0) === 196608) started = true;
      chain = chain.then(() => handle(type, body)).catch(() => {
        socket.destroy();
      });
    }
  });
}

const server = createServer(serve);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => server.close(() => r())));
const port = (server.address() as AddressInfo).port;

async function login(user: string, database: string, password?: string): Promise<void> {
  const c = new pg.Client({ host: '127.0.0.1', port, user, database, ...(password !== undefined ? { password } : {}) });
  await c.connect();
  await c.end();
}

const last = () => outcomes[outcomes.length - 1]!;

t.test('SCRAM with a password from the config', async (t) => {
  await login('cfg', 'scram', 'cfg-pw');
  t.equal(last().done.ok, true);
  const d = last().done;
  t.same(d.ok && d.upstreamSecret, { kind: 'password', password: 'cfg-pw' });
});

t.test('SCRAM pass-through: verifier from authQuery, recovered ClientKey logs in to PostgreSQL', async (t) => {
  await login(USERS.scram.user, 'scram', USERS.scram.password);
  const o = last();
  t.equal(o.done.ok, true);
  t.equal(o.done.ok && o.done.upstreamSecret.kind, 'scram-keys');
  t.equal(o.upstreamUser, 'app');
});

t.test('md5 from a hash read by authQuery, passed on to PostgreSQL', async (t) => {
  await login(USERS.md5.user, 'md5', USERS.md5.password);
  const o = last();
  t.equal(o.done.ok && o.done.method, 'md5');
  t.equal(o.done.ok && o.done.upstreamSecret.kind, 'md5-hash');
  t.equal(o.upstreamUser, 'md5user');
});

t.test('md5 tenant, SCRAM-only user: pg follows the switch to SCRAM', async (t) => {
  await login(USERS.scram.user, 'md5', USERS.scram.password);
  const d = last().done;
  t.equal(d.ok && d.method, 'scram-sha-256');
  t.equal(last().upstreamUser, 'app');
});

t.test('trust', async (t) => {
  await login(USERS.trust.user, 'trust');
  t.equal(last().done.ok, true);
  t.equal(last().upstreamUser, 'trusty');
});

t.test('wrong password and unknown user: 28P01 with the same message shape', async (t) => {
  for (const [user, db, pw] of [
    ['app', 'scram', 'wrong'],
    ['ghost', 'scram', 'whatever'],
    ['md5user', 'md5', 'wrong'],
    ['ghost', 'md5', 'whatever'],
  ] as const) {
    const err = await login(user, db, pw).then(
      () => undefined,
      (e: { code?: string; message: string }) => e,
    );
    t.equal(err?.code, '28P01', `${user}@${db}`);
    t.equal(err?.message, `password authentication failed for user "${user}"`);
  }
});
