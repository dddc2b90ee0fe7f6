// SCRAM-SHA-256 on pgporter's side: RFC 7677's example, an independent client written here, wrong passwords, unknown users, channel binding and malformed input.
import t from 'tap';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import {
  ClientAuthenticator,
  deriveVerifier,
  formatVerifier,
  parseVerifier,
  ScramServer,
  UpstreamAuth,
  type AuthStep,
  type Credential,
  type CredentialSource,
} from '../src/auth/index.js';
import { AuthCode } from '../src/protocol/index.js';

const H = (b: Buffer) => createHash('sha256').update(b).digest();
const HMAC = (k: Buffer, d: string | Buffer) => createHmac('sha256', k).update(d).digest();
const XOR = (a: Buffer, b: Buffer) => Buffer.from(a.map((x, i) => x ^ b[i]!));

/** A SCRAM client written independently of src/auth, working on whole backend messages as a real client would. */
class TestScramClient {
  readonly nonce = randomBytes(12).toString('base64');
  private clientFirstBare = '';
  private serverSignature = Buffer.alloc(0);
  constructor(
    private readonly password: string,
    private readonly gs2 = 'n,,',
  ) {}
  /** SASLInitialResponse body. */
  first(mechanism = 'SCRAM-SHA-256'): Buffer {
    this.clientFirstBare = `n=*,r=${this.nonce}`;
    const data = Buffer.from(this.gs2 + this.clientFirstBare);
    const len = Buffer.alloc(4);
    len.writeInt32BE(data.length);
    return Buffer.concat([Buffer.from(mechanism + '\0'), len, data]);
  }
  /** SASLResponse body for an AuthenticationSASLContinue message. */
  final(serverMsg: Buffer, tamper?: (s: string) => string): Buffer {
    const serverFirst = authData(serverMsg, AuthCode.SASLContinue);
    const a = Object.fromEntries(serverFirst.split(',').map((p) => [p[0], p.slice(2)]));
    const sp = pbkdf2Sync(this.password, Buffer.from(a.s!, 'base64'), Number(a.i), 32, 'sha256');
    const ck = HMAC(sp, 'Client Key');
    const withoutProof = `c=${Buffer.from(this.gs2).toString('base64')},r=${a.r}`;
    const am = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    this.serverSignature = HMAC(HMAC(sp, 'Server Key'), am);
    const msg = `${withoutProof},p=${XOR(ck, HMAC(H(ck), am)).toString('base64')}`;
    return Buffer.from(tamper ? tamper(msg) : msg);
  }
  checkFinal(serverMsg: Buffer): boolean {
    return authData(serverMsg, AuthCode.SASLFinal) === `v=${this.serverSignature.toString('base64')}`;
  }
}

/** The payload of the first Authentication message in `buf`, checking its subtype. */
function authData(buf: Buffer, code: number): string {
  if (buf[0] !== 0x52) throw new Error(`not an Authentication message: ${buf[0]}`);
  const len = buf.readInt32BE(1);
  if (buf.readInt32BE(5) !== code) throw new Error(`expected auth code ${code}, got ${buf.readInt32BE(5)}`);
  return buf.toString('latin1', 9, 1 + len);
}

const staticSource = (users: Record<string, Credential>): CredentialSource => ({
  lookup: async (_tenant, user) => users[user],
});

async function runScram(a: ClientAuthenticator, client: TestScramClient, opts: { mechanism?: string; tamper?: (s: string) => string } = {}) {
  const first = await a.start();
  if (first.reply?.readInt32BE(5) !== AuthCode.SASL) throw new Error('expected AuthenticationSASL first');
  const cont = await a.receive(client.first(opts.mechanism));
  if (cont.done) return { step: cont, client };
  const fin = await a.receive(client.final(cont.reply!, opts.tamper));
  return { step: fin, client };
}

const RFC_PASSWORD = 'pencil';
const RFC_SALT = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');

t.test('RFC 7677 §3 example exchange', async (t) => {
  const v = await deriveVerifier(RFC_PASSWORD, 4096, RFC_SALT);
  const server = new ScramServer(v, { serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0' });
  t.equal(
    server.clientFirst('n,,n=user,r=rOprNGfwEbeRWgbNEkqO'),
    'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  );
  const r = server.clientFinal('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
  t.equal(r.serverFinal, 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  const sp = pbkdf2Sync(RFC_PASSWORD, RFC_SALT, 4096, 32, 'sha256');
  t.same(r.clientKey, HMAC(sp, 'Client Key'), 'the recovered ClientKey is the one the password gives');
  t.same(r.serverKey, HMAC(sp, 'Server Key'));
});

t.test('verifier text round-trips and bad ones are refused', async (t) => {
  const v = await deriveVerifier('x', 4096);
  t.same(parseVerifier(formatVerifier(v)), v);
  t.equal(parseVerifier('SCRAM-SHA-256$4096:abc$short:short'), undefined);
  t.equal(parseVerifier('SCRAM-SHA-256$0:' + formatVerifier(v).split(':').slice(1).join(':')), undefined, 'zero iterations');
  t.equal(parseVerifier('md5abc'), undefined);
});

t.test('an independent client logs in with a plain password and with a stored verifier', async (t) => {
  const verifier = await deriveVerifier('s3cret', 4096);
  const creds = staticSource({ plain: { kind: 'plain', password: 's3cret' }, stored: { kind: 'scram', ...verifier } });

  const a = new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'plain' });
  const { step, client } = await runScram(a, new TestScramClient('s3cret'));
  t.equal(step.done?.ok, true);
  t.ok(client.checkFinal(step.reply!), 'server signature verifies on the client');
  t.equal(step.reply!.subarray(-9).readInt32BE(5), AuthCode.Ok, 'AuthenticationOk follows SASLFinal');
  t.same(step.done?.ok && step.done.upstreamSecret, { kind: 'password', password: 's3cret' });

  const b = new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'stored' });
  const r2 = await runScram(b, new TestScramClient('s3cret'));
  t.equal(r2.step.done?.ok, true);
  const sec = r2.step.done?.ok ? r2.step.done.upstreamSecret : undefined;
  t.equal(sec?.kind, 'scram-keys');
  if (sec?.kind === 'scram-keys') {
    const sp = pbkdf2Sync('s3cret', verifier.salt, 4096, 32, 'sha256');
    t.same(sec.clientKey, HMAC(sp, 'Client Key'), 'ClientKey recovered from the proof');
    t.same(sec.serverKey, verifier.serverKey);
  }
});

t.test('gs2 flag y (client could bind, thinks we cannot) is accepted', async (t) => {
  const creds = staticSource({ u: { kind: 'plain', password: 'pw' } });
  const a = new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'u' });
  const { step } = await runScram(a, new TestScramClient('pw', 'y,,'));
  t.equal(step.done?.ok, true);
});

t.test('wrong password and unknown user fail alike with 28P01', async (t) => {
  const creds = staticSource({ u: { kind: 'plain', password: 'right' } });
  const wrong = await runScram(new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'u' }), new TestScramClient('wrong'));
  const unknown = await runScram(new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'ghost' }), new TestScramClient('any'));
  for (const [name, r, reason] of [['wrong', wrong, 'wrong_password'], ['unknown', unknown, 'unknown_user']] as const) {
    const d = r.step.done;
    t.equal(d?.ok, false, name);
    if (d && !d.ok) {
      t.equal(d.error.sqlstate, '28P01', `${name}: sqlstate`);
      t.equal(d.error.message, `password authentication failed for user "${name === 'wrong' ? 'u' : 'ghost'}"`);
      t.equal(d.reason, reason);
    }
    t.equal(r.step.reply, undefined, `${name}: nothing sent before the caller's error`);
  }
});

t.test('an unknown user sees the same salt on every attempt, like a real one', async (t) => {
  const creds = staticSource({});
  const salt = async () => {
    const a = new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'ghost' });
    await a.start();
    const cont = await a.receive(new TestScramClient('x').first());
    return authData(cont.reply!, AuthCode.SASLContinue).split(',')[1];
  };
  t.equal(await salt(), await salt());
});

t.test('an md5 hash cannot check a SCRAM proof: the exchange fails like a wrong password', async (t) => {
  const creds = staticSource({ m: { kind: 'md5', hash: 'md5' + '1'.repeat(32) } });
  const { step } = await runScram(new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'm' }), new TestScramClient('x'));
  t.equal(step.done?.ok === false && step.done.error.sqlstate, '28P01');
  t.equal(step.done?.ok === false && step.done.reason, 'unusable_credential');
});

t.test('channel binding (p=) and the -PLUS mechanism are refused as protocol errors', async (t) => {
  const creds = staticSource({ u: { kind: 'plain', password: 'pw' } });
  const a = new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'u' });
  const { step } = await runScram(a, new TestScramClient('pw', 'p=tls-server-end-point,,'));
  t.equal(step.done?.ok === false && step.done.error.sqlstate, '08P01');
  t.match(step.done?.ok === false && step.done.error.message, /channel binding/);

  const b = new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'u' });
  const r2 = await runScram(b, new TestScramClient('pw'), { mechanism: 'SCRAM-SHA-256-PLUS' });
  t.equal(r2.step.done?.ok === false && r2.step.done.error.sqlstate, '08P01');

  // A c= that does not match the gs2 header the client sent.
  const c = new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'u' });
  const r3 = await runScram(c, new TestScramClient('pw'), { tamper: (s) => s.replace('c=biws', 'c=eSws') });
  t.equal(r3.step.done?.ok === false && r3.step.done.error.sqlstate, '08P01');
});

t.test('a tampered nonce or proof fails with 28P01', async (t) => {
  const creds = staticSource({ u: { kind: 'plain', password: 'pw' } });
  const nonce = await runScram(new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'u' }), new TestScramClient('pw'), {
    tamper: (s) => s.replace(',r=', ',r=X'),
  });
  t.equal(nonce.step.done?.ok === false && nonce.step.done.error.sqlstate, '28P01');
  const proof = await runScram(new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'u' }), new TestScramClient('pw'), {
    tamper: (s) => s.slice(0, -6) + 'AAAAA=',
  });
  t.equal(proof.step.done?.ok === false && proof.step.done.error.sqlstate, '28P01');
});

t.test('malformed messages end the exchange with an error, never a throw', async (t) => {
  const creds = staticSource({ u: { kind: 'plain', password: 'pw' } });
  const initialBodies: Buffer[] = [
    Buffer.alloc(0),
    Buffer.from('SCRAM-SHA-256'),
    Buffer.from('SCRAM-SHA-256\0'),
    Buffer.from('SCRAM-SHA-256\0\xff\xff\xff\xff', 'latin1'),
    Buffer.from('SCRAM-SHA-256\0\0\0\0\x10n,,', 'latin1'),
    new TestScramClient('pw', 'x,,').first(),
    new TestScramClient('pw', 'n,a=admin,').first(),
    (() => {
      const d = Buffer.from('n,,m=ext,n=*,r=abc');
      const l = Buffer.alloc(4);
      l.writeInt32BE(d.length);
      return Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), l, d]);
    })(),
    (() => {
      const d = Buffer.from('n,,n=*,r=');
      const l = Buffer.alloc(4);
      l.writeInt32BE(d.length);
      return Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), l, d]);
    })(),
  ];
  for (let i = 0; i < 200; i++) initialBodies.push(randomBytes(i % 40));
  for (const body of initialBodies) {
    const a = new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'u' });
    await a.start();
    const step: AuthStep = await a.receive(body);
    t.equal(step.done?.ok, false, `initial body ${body.toString('hex').slice(0, 40)}`);
    t.ok(step.done?.ok === false && ['08P01', '28P01'].includes(step.done.error.sqlstate));
  }
  const finals = [Buffer.alloc(0), Buffer.from('c=biws'), Buffer.from('c=biws,r=x,p=!!!!'), Buffer.from('c=biws,r=x,p=AAAA'), Buffer.from('p=,,,,'), randomBytes(64)];
  for (const body of finals) {
    const a = new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'u' });
    await a.start();
    await a.receive(new TestScramClient('pw').first());
    const step = await a.receive(body);
    t.equal(step.done?.ok, false, `final body ${JSON.stringify(body.toString('latin1'))}`);
  }
  // Messages after the end, or before the start.
  const a = new ClientAuthenticator({ method: 'scram-sha-256', credentials: creds, tenantId: 't', user: 'u' });
  t.equal((await a.receive(Buffer.from('x'))).done?.ok, false, 'message before start');
  t.equal((await a.start()).done?.ok, false, 'start after the end');
});

t.test('UpstreamAuth logs in to a SCRAM server from a password and from recovered keys, and checks the server', async (t) => {
  const verifier = await deriveVerifier('pw', 4096);
  // What the server side (pgporter) recovers from a real client...
  const a = new ClientAuthenticator({ method: 'scram-sha-256', credentials: staticSource({ u: { kind: 'scram', ...verifier } }), tenantId: 't', user: 'u' });
  const { step } = await runScram(a, new TestScramClient('pw'));
  t.ok(step.done?.ok);
  const keys = step.done?.ok ? step.done.upstreamSecret : { kind: 'none' as const };

  // ...logs in to a "server" holding the same verifier.
  async function login(auth: UpstreamAuth, serverVerifier = verifier) {
    const server = new ScramServer(serverVerifier);
    const init = await auth.respond(AuthCode.SASL, Buffer.from('SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0'));
    const body = init!.subarray(5);
    const nul = body.indexOf(0);
    t.equal(body.toString('latin1', 0, nul), 'SCRAM-SHA-256', 'never picks -PLUS');
    const serverFirst = server.clientFirst(body.subarray(nul + 5));
    const fin = await auth.respond(AuthCode.SASLContinue, Buffer.from(serverFirst));
    const r = server.clientFinal(fin!.subarray(5));
    t.equal(await auth.respond(AuthCode.SASLFinal, Buffer.from(r.serverFinal)), undefined);
    await auth.respond(AuthCode.Ok, Buffer.alloc(0));
    return auth.complete;
  }
  t.ok(await login(new UpstreamAuth('u', keys)), 'with recovered ClientKey');
  t.ok(await login(new UpstreamAuth('u', { kind: 'password', password: 'pw' })), 'with the password');
  const other = await deriveVerifier('pw', 4096);
  await t.rejects(login(new UpstreamAuth('u', keys), other), { code: 'UPSTREAM_AUTH_UNSUPPORTED' }, 'keys from another salt are refused early');

  // A server that does not know the verifier cannot produce the right signature.
  const auth = new UpstreamAuth('u', { kind: 'password', password: 'pw' });
  const fake = new ScramServer(await deriveVerifier('other', 4096));
  const init = (await auth.respond(AuthCode.SASL, Buffer.from('SCRAM-SHA-256')))!.subarray(5);
  const sf = fake.clientFirst(init.subarray(init.indexOf(0) + 5));
  await auth.respond(AuthCode.SASLContinue, Buffer.from(sf));
  await t.rejects(auth.respond(AuthCode.SASLFinal, Buffer.from('v=' + randomBytes(32).toString('base64'))), { code: 'UPSTREAM_AUTH_FAILED' });

  // Ok without the SCRAM exchange finishing means the server skipped mutual authentication.
  const early = new UpstreamAuth('u', { kind: 'password', password: 'pw' });
  await early.respond(AuthCode.SASL, Buffer.from('SCRAM-SHA-256'));
  await t.rejects(early.respond(AuthCode.Ok, Buffer.alloc(0)), { code: 'UPSTREAM_AUTH_FAILED' });

  await t.rejects(new UpstreamAuth('u', { kind: 'md5-hash', hash: 'md5' + '0'.repeat(32) }).respond(AuthCode.SASL, Buffer.from('SCRAM-SHA-256')), {
    code: 'UPSTREAM_AUTH_UNSUPPORTED',
  });
  await t.rejects(new UpstreamAuth('u', keys).respond(7, Buffer.alloc(0)), { code: 'UPSTREAM_AUTH_UNSUPPORTED' }, 'GSSAPI');
  // Hostile server-first messages.
  for (const bad of ['', 'r=zzz,s=AAAA,i=4096', `r=%NONCE%x,s=AAAA,i=99999999`, 'garbage']) {
    const u = new UpstreamAuth('u', { kind: 'password', password: 'pw' }, { clientNonce: 'NONCE' });
    await u.respond(AuthCode.SASL, Buffer.from('SCRAM-SHA-256'));
    await t.rejects(u.respond(AuthCode.SASLContinue, Buffer.from(bad.replace('%NONCE%', 'NONCE'))), { code: 'UPSTREAM_AUTH_FAILED' }, JSON.stringify(bad));
  }
});
