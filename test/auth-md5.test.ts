// md5 authentication both ways: pgporter checking a client's salted answer (from a password or a stored hash) and answering a server's md5 challenge.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { ClientAuthenticator, Md5Server, md5Stored, UpstreamAuth, type Credential, type CredentialSource } from '../src/auth/index.js';
import { AuthCode } from '../src/protocol/index.js';

const md5hex = (s: Buffer | string) => createHash('md5').update(s).digest('hex');
/** What libpq sends: "md5" + md5(md5(password + user) + salt). */
const clientAnswer = (password: string, user: string, salt: Buffer) =>
  Buffer.from('md5' + md5hex(Buffer.concat([Buffer.from(md5hex(password + user)), salt])) + '\0');

const source = (users: Record<string, Credential>): CredentialSource => ({ lookup: async (_t, u) => users[u] });

t.test('stored hash format matches PostgreSQL', async (t) => {
  t.equal(md5Stored('md5-secret', 'md5user'), 'md5' + md5hex('md5-secretmd5user'));
});

t.test('client side: md5 method with a plain password and with a stored hash', async (t) => {
  const creds = source({
    plain: { kind: 'plain', password: 'pw' },
    hashed: { kind: 'md5', hash: md5Stored('pw', 'hashed') },
  });
  for (const user of ['plain', 'hashed']) {
    const a = new ClientAuthenticator({ method: 'md5', credentials: creds, tenantId: 't', user });
    const first = await a.start();
    t.equal(first.reply?.readInt32BE(5), AuthCode.MD5Password, `${user}: MD5Password request`);
    const salt = first.reply!.subarray(9, 13);
    const step = await a.receive(clientAnswer('pw', user, salt));
    t.equal(step.done?.ok, true, `${user}: logged in`);
    t.equal(step.reply?.readInt32BE(5), AuthCode.Ok, `${user}: AuthenticationOk`);
    const secret = step.done?.ok ? step.done.upstreamSecret : undefined;
    t.same(secret, user === 'plain' ? { kind: 'password', password: 'pw' } : { kind: 'md5-hash', hash: md5Stored('pw', 'hashed') });
  }
});

t.test('client side: wrong password, unknown user, garbage all fail with 28P01', async (t) => {
  const creds = source({ u: { kind: 'plain', password: 'pw' } });
  const cases: [string, (salt: Buffer) => Buffer][] = [
    ['u', (s) => clientAnswer('wrong', 'u', s)],
    ['ghost', (s) => clientAnswer('pw', 'ghost', s)],
    ['u', () => Buffer.from('md5\0')],
    ['u', () => Buffer.alloc(0)],
    ['u', () => randomBytes(36)],
  ];
  for (const [user, answer] of cases) {
    const a = new ClientAuthenticator({ method: 'md5', credentials: creds, tenantId: 't', user });
    const first = await a.start();
    const step = await a.receive(answer(first.reply!.subarray(9, 13)));
    t.equal(step.done?.ok, false);
    t.equal(step.done?.ok === false && step.done.error.sqlstate, '28P01');
    t.equal(step.done?.ok === false && step.done.error.message, `password authentication failed for user "${user}"`);
  }
  const a = new ClientAuthenticator({ method: 'md5', credentials: creds, tenantId: 't', user: 'u' });
  const first = await a.start();
  const salt = first.reply!.subarray(9, 13);
  await a.receive(clientAnswer('wrong', 'u', salt));
  t.equal((await a.receive(clientAnswer('pw', 'u', salt))).done?.ok, false, 'no second try on the same exchange');
});

t.test('md5 method with only a SCRAM verifier switches to SCRAM, as PostgreSQL does', async (t) => {
  const { deriveVerifier } = await import('../src/auth/index.js');
  const v = await deriveVerifier('pw');
  const a = new ClientAuthenticator({ method: 'md5', credentials: source({ s: { kind: 'scram', ...v } }), tenantId: 't', user: 's' });
  t.equal((await a.start()).reply?.readInt32BE(5), AuthCode.SASL);
});

t.test('trust: no exchange, and the upstream secret is whatever the config knows', async (t) => {
  const creds = source({ p: { kind: 'plain', password: 'pw' } });
  const a = await new ClientAuthenticator({ method: 'trust', credentials: creds, tenantId: 't', user: 'p' }).start();
  t.equal(a.reply?.readInt32BE(5), AuthCode.Ok);
  t.same(a.done, { ok: true, method: 'trust', upstreamSecret: { kind: 'password', password: 'pw' } });
  const b = await new ClientAuthenticator({ method: 'trust', credentials: creds, tenantId: 't', user: 'x' }).start();
  t.same(b.done, { ok: true, method: 'trust', upstreamSecret: { kind: 'none' } });
  const failing: CredentialSource = { lookup: async () => Promise.reject(new Error('down')) };
  const c = await new ClientAuthenticator({ method: 'trust', credentials: failing, tenantId: 't', user: 'x' }).start();
  t.equal(c.done?.ok, true, 'a failed lookup does not stop trust');
  const d = await new ClientAuthenticator({ method: 'md5', credentials: failing, tenantId: 't', user: 'x' }).start();
  t.equal(d.done?.ok === false && d.done.error.code, 'AUTH_QUERY_FAILED');
});

t.test('server side: UpstreamAuth answers md5 from a password or a stored hash; cleartext only with a password', async (t) => {
  const salt = randomBytes(4);
  const fromPw = await new UpstreamAuth('bob', { kind: 'password', password: 'pw' }).respond(AuthCode.MD5Password, salt);
  const fromHash = await new UpstreamAuth('bob', { kind: 'md5-hash', hash: md5Stored('pw', 'bob') }).respond(AuthCode.MD5Password, salt);
  t.same(fromPw, fromHash);
  t.equal(fromPw![0], 0x70, "a 'p' message");
  t.same(fromPw!.subarray(5), clientAnswer('pw', 'bob', salt));
  t.ok(new Md5Server(md5Stored('pw', 'bob'), salt).verify(fromPw!.subarray(5)), 'and Md5Server accepts it');

  const clear = await new UpstreamAuth('bob', { kind: 'password', password: 'pw' }).respond(AuthCode.CleartextPassword, Buffer.alloc(0));
  t.same(clear!.subarray(5), Buffer.from('pw\0'));
  await t.rejects(new UpstreamAuth('bob', { kind: 'md5-hash', hash: md5Stored('pw', 'bob') }).respond(AuthCode.CleartextPassword, Buffer.alloc(0)), {
    code: 'UPSTREAM_AUTH_UNSUPPORTED',
  });
  await t.rejects(new UpstreamAuth('bob', { kind: 'none' }).respond(AuthCode.MD5Password, salt), { code: 'UPSTREAM_AUTH_UNSUPPORTED' });
  await t.rejects(new UpstreamAuth('bob', { kind: 'password', password: 'pw' }).respond(AuthCode.MD5Password, Buffer.alloc(2)), { code: 'UPSTREAM_AUTH_FAILED' });
  t.equal(await new UpstreamAuth('bob', { kind: 'none' }).respond(AuthCode.Ok, Buffer.alloc(0)), undefined, 'trust: nothing to send');
});
