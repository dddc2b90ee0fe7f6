// Logging in to a real PostgreSQL with UpstreamAuth: SCRAM from a password and from a ClientKey recovered via authQuery, md5 from a stored hash, trust; and authQuery itself.
import t from 'tap';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { ClientAuthenticator, CredentialResolver, MiniSession, runAuthQuery, type UpstreamSecret } from '../src/auth/index.js';
import { parseConfig } from '../src/config/index.js';
import { AuthCode } from '../src/protocol/index.js';
import { PostgresFixture, USERS } from './fixtures/postgres.js';

const pg = await PostgresFixture.start();
t.teardown(() => pg.destroy());

async function whoami(user: string, secret: UpstreamSecret): Promise<string | null | undefined> {
  const s = await MiniSession.open({ host: pg.host, port: pg.port, user, database: 'postgres', secret, timeoutMs: 10_000 });
  try {
    return (await s.query('SELECT current_user')).rows[0]![0];
  } finally {
    s.close();
  }
}

const PG_AUTHID = 'SELECT rolname, rolpassword FROM pg_authid WHERE rolname = $1';

t.test('SCRAM login as app from the plain password', async (t) => {
  t.equal(await whoami(USERS.scram.user, { kind: 'password', password: USERS.scram.password }), 'app');
  await t.rejects(whoami(USERS.scram.user, { kind: 'password', password: 'nope' }), { code: 'AUTH_QUERY_FAILED', message: /password authentication failed/ });
});

t.test('md5 login as md5user from the stored hash only; trust as trusty', async (t) => {
  const hash = pg.sql(`SELECT rolpassword FROM pg_authid WHERE rolname = '${USERS.md5.user}'`);
  t.match(hash, /^md5[0-9a-f]{32}$/);
  t.equal(await whoami(USERS.md5.user, { kind: 'md5-hash', hash }), 'md5user');
  t.equal(await whoami(USERS.md5.user, { kind: 'password', password: USERS.md5.password }), 'md5user');
  t.equal(await whoami(USERS.trust.user, { kind: 'none' }), 'trusty');
  await t.rejects(whoami(USERS.scram.user, { kind: 'none' }), { code: 'UPSTREAM_AUTH_UNSUPPORTED' }, 'no secret for a SCRAM server');
});

t.test('runAuthQuery reads verifiers and hashes, by column name, in either order', async (t) => {
  const base = { tenantId: 'acme', host: pg.host, port: pg.port, user: 'postgres', database: 'postgres', timeoutMs: 10_000 };
  const app = await runAuthQuery({ ...base, query: PG_AUTHID, lookupUser: 'app' });
  t.equal(app?.kind, 'scram');
  const swapped = await runAuthQuery({ ...base, query: 'SELECT rolpassword, rolname FROM pg_authid WHERE rolname = $1', lookupUser: 'app' });
  t.same(swapped, app);
  const shadow = await runAuthQuery({ ...base, query: 'SELECT usename, passwd FROM pg_shadow WHERE usename = $1', lookupUser: 'md5user' });
  t.equal(shadow?.kind, 'md5');
  t.equal(await runAuthQuery({ ...base, query: PG_AUTHID, lookupUser: 'trusty' }), undefined, 'a role without a password');
  t.equal(await runAuthQuery({ ...base, query: PG_AUTHID, lookupUser: "x'; DROP ROLE app; --" }), undefined, 'names are parameters, not SQL');
  t.equal(pg.sql(`SELECT count(*) FROM pg_roles WHERE rolname = 'app'`), '1');
  await t.rejects(runAuthQuery({ ...base, query: 'SELECT nope FROM nowhere WHERE $1 = $1', lookupUser: 'app' }), { code: 'AUTH_QUERY_FAILED' });
  await t.rejects(runAuthQuery({ ...base, port: 1, query: PG_AUTHID, lookupUser: 'app' }), { code: 'AUTH_QUERY_FAILED' });
});

t.test('SCRAM pass-through: a ClientKey recovered with a verifier from authQuery logs in to the server', async (t) => {
  const tenant = parseConfig({
    tenants: [{ id: 'acme', upstream: { host: pg.host, port: pg.port }, auth: { authQuery: { user: 'postgres', query: PG_AUTHID } } }],
  }).tenants[0]!;
  const resolver = new CredentialResolver({ tenant: () => tenant });
  const a = new ClientAuthenticator({ method: 'scram-sha-256', credentials: resolver, tenantId: 'acme', user: 'app' });

  // A client that knows the password runs the exchange against pgporter.
  const H = (b: Buffer) => createHash('sha256').update(b).digest();
  const HMAC = (k: Buffer, d: string) => createHmac('sha256', k).update(d).digest();
  const first = await a.start();
  t.equal(first.reply?.readInt32BE(5), AuthCode.SASL);
  const nonce = randomBytes(12).toString('base64');
  const cfb = `n=*,r=${nonce}`;
  const data = Buffer.from(`n,,${cfb}`);
  const len = Buffer.alloc(4);
  len.writeInt32BE(data.length);
  const cont = await a.receive(Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), len, data]));
  const serverFirst = cont.reply!.toString('latin1', 9);
  const attrs = Object.fromEntries(serverFirst.split(',').map((p) => [p[0], p.slice(2)]));
  const sp = pbkdf2Sync(USERS.scram.password, Buffer.from(attrs.s!, 'base64'), Number(attrs.i), 32, 'sha256');
  const ck = HMAC(sp, 'Client Key');
  const wp = `c=biws,r=${attrs.r}`;
  const am = `${cfb},${serverFirst},${wp}`;
  const sig = HMAC(H(ck).subarray(0), am);
  const proof = Buffer.from(ck.map((x, i) => x ^ sig[i]!)).toString('base64');
  const fin = await a.receive(Buffer.from(`${wp},p=${proof}`));
  t.equal(fin.done?.ok, true, 'pgporter accepted the client');
  const secret = fin.done?.ok ? fin.done.upstreamSecret : { kind: 'none' as const };
  t.equal(secret.kind, 'scram-keys', 'pgporter holds keys, not the password');
  t.notOk(JSON.stringify(secret).includes(USERS.scram.password));

  t.equal(await whoami('app', secret), 'app', 'and logs in to PostgreSQL with them');
});
