// The one upstream login refuses a server that does not prove itself (SASLFinal skipped, a wrong SCRAM signature, AuthenticationOk without the exchange it owed), on the pool's path and on authQuery's, against a scripted fake server.
import t from 'tap';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { runAuthQuery, UpstreamAuth, type UpstreamSecret } from '../src/auth/index.js';
import { connectUpstream } from '../src/upstream/index.js';

const PASSWORD = 'fake-secret';

/** How the fake ends the login once it has the client's SCRAM proof (or, for 'ok-at-once', instead of asking for anything). */
type Script = 'honest' | 'skip-final' | 'wrong-signature' | 'ok-at-once' | 'ready-without-ok';

const msg = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
};
const auth = (code: number, data: Buffer = Buffer.alloc(0)) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(code);
  return msg('R', Buffer.concat([b, data]));
};
const AUTH_OK = auth(0);
const READY = msg('Z', Buffer.from('I'));
const keyData = () => {
  const b = Buffer.alloc(8);
  b.writeInt32BE(4242, 0);
  b.writeInt32BE(777, 4);
  return msg('K', b);
};
// After a login the authQuery session sends Parse/Bind/Describe/Execute/Sync: answer with one row and ReadyForQuery.
const QUERY_ANSWER = Buffer.concat([
  msg('1', Buffer.alloc(0)),
  msg('2', Buffer.alloc(0)),
  msg('T', Buffer.concat([Buffer.from([0, 1]), Buffer.from('passwd\0'), Buffer.alloc(18)])),
  msg('D', (() => {
    const v = Buffer.from('plain-from-fake');
    const b = Buffer.alloc(6);
    b.writeInt16BE(1, 0);
    b.writeInt32BE(v.length, 2);
    return Buffer.concat([b, v]);
  })()),
  msg('C', Buffer.from('SELECT 1\0')),
  READY,
]);

/** A server that speaks just enough of the protocol: StartupMessage, SCRAM-SHA-256 (or nothing), then the script's ending. */
async function fakeServer(script: Script): Promise<{ port: number; server: Server; loggedIn: () => number }> {
  let logins = 0;
  const server = createServer((sock: Socket) => {
    let buf = Buffer.alloc(0);
    let phase: 'startup' | 'initial' | 'final' | 'query' = 'startup';
    let clientFirstBare = '';
    let serverFirst = '';
    const salt = randomBytes(16);
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (phase === 'startup') {
          if (buf.length < 4 || buf.length < buf.readInt32BE(0)) return;
          buf = buf.subarray(buf.readInt32BE(0));
          if (script === 'ready-without-ok') {
            logins++;
            sock.write(Buffer.concat([keyData(), READY]));
            phase = 'query';
          } else if (script === 'ok-at-once') {
            logins++;
            sock.write(Buffer.concat([AUTH_OK, keyData(), READY]));
            phase = 'query';
          } else {
            sock.write(auth(10, Buffer.from('SCRAM-SHA-256\0\0')));
            phase = 'initial';
          }
          continue;
        }
        if (buf.length < 5 || buf.length < 1 + buf.readInt32BE(1)) return;
        const type = String.fromCharCode(buf[0]!);
        const body = buf.subarray(5, 1 + buf.readInt32BE(1));
        buf = buf.subarray(1 + buf.readInt32BE(1));
        if (phase === 'query') {
          if (type === 'S') sock.write(QUERY_ANSWER);
          if (type === 'X') sock.end();
          continue;
        }
        if (type !== 'p') return void sock.destroy();
        if (phase === 'initial') {
          const mechEnd = body.indexOf(0);
          const data = body.subarray(mechEnd + 5).toString('latin1'); // after the mechanism and the int32 length
          clientFirstBare = data.slice(3); // "n,,"
          const clientNonce = /r=([^,]*)/.exec(clientFirstBare)![1]!;
          serverFirst = `r=${clientNonce}${randomBytes(9).toString('base64')},s=${salt.toString('base64')},i=4096`;
          sock.write(auth(11, Buffer.from(serverFirst)));
          phase = 'final';
          continue;
        }
        // phase 'final': the client's proof arrived; end the way the script says.
        const clientFinal = body.toString('latin1');
        const withoutProof = clientFinal.slice(0, clientFinal.indexOf(',p='));
        const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
        const salted = pbkdf2Sync(PASSWORD, salt, 4096, 32, 'sha256');
        const serverKey = createHmac('sha256', salted).update('Server Key').digest();
        const signature =
          script === 'wrong-signature'
            ? createHmac('sha256', createHash('sha256').update('not the verifier').digest()).update(authMessage).digest()
            : createHmac('sha256', serverKey).update(authMessage).digest();
        const final = script === 'skip-final' ? Buffer.alloc(0) : auth(12, Buffer.from(`v=${signature.toString('base64')}`));
        logins++;
        sock.write(Buffer.concat([final, AUTH_OK, keyData(), READY]));
        phase = 'query';
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, server, loggedIn: () => logins };
}

/** The pool's call: exactly what src/pool/pool.ts does to open a server. */
async function poolLogin(port: number, secret: UpstreamSecret) {
  const conn = await connectUpstream({ host: '127.0.0.1', port, tls: 'disable' }, { user: 'app', database: 'postgres' }, new UpstreamAuth('app', secret), 5000);
  conn.socket.destroy();
  return conn.key;
}

/** authQuery's call, as CredentialResolver makes it. */
function authQuery(port: number) {
  return runAuthQuery({ tenantId: 'acme', host: '127.0.0.1', port, user: 'app', password: PASSWORD, database: 'postgres', query: 'SELECT passwd FROM x WHERE $1 = $1', lookupUser: 'bob', timeoutMs: 5000 });
}

const password: UpstreamSecret = { kind: 'password', password: PASSWORD };

t.test('the fake itself: an honest SCRAM ending is accepted on both paths (so a refusal below is the login judging the server)', async (t) => {
  const f = await fakeServer('honest');
  t.teardown(() => f.server.close());
  t.same(await poolLogin(f.port, password), { pid: 4242, secret: 777 });
  t.same(await authQuery(f.port), { kind: 'plain', password: 'plain-from-fake' });
});

const refusals: { script: Script; what: string; message: RegExp }[] = [
  { script: 'skip-final', what: 'AuthenticationOk without SASLFinal', message: /SCRAM exchange early/ },
  { script: 'wrong-signature', what: 'a SASLFinal with a wrong server signature', message: /signature is wrong/ },
];

for (const r of refusals) {
  t.test(`refused: ${r.what}`, async (t) => {
    const f = await fakeServer(r.script);
    t.teardown(() => f.server.close());
    await t.rejects(poolLogin(f.port, password), { code: 'UPSTREAM_AUTH_FAILED', side: 'server', message: r.message }, 'pool server login');
    await t.rejects(authQuery(f.port), { code: 'UPSTREAM_AUTH_FAILED', side: 'server', message: r.message }, 'authQuery login');
    t.equal(f.loggedIn(), 2, 'the fake did play its ending both times');
  });
}

t.test('keys recovered from a client (SCRAM pass-through) are not trusted by a server that asks for nothing either', async (t) => {
  const f = await fakeServer('ok-at-once');
  t.teardown(() => f.server.close());
  const keys: UpstreamSecret = { kind: 'scram-keys', clientKey: randomBytes(32), serverKey: randomBytes(32) };
  await t.rejects(poolLogin(f.port, keys), { code: 'UPSTREAM_AUTH_FAILED', side: 'server' });
  const hash: UpstreamSecret = { kind: 'md5-hash', hash: 'md5' + '0'.repeat(32) };
  await t.rejects(poolLogin(f.port, hash), { code: 'UPSTREAM_AUTH_FAILED', side: 'server', message: /without asking for the password/ });
  // With no secret, or a configured password, the server may simply trust pgporter (pg_hba trust): that is allowed.
  t.same(await poolLogin(f.port, { kind: 'none' }), { pid: 4242, secret: 777 });
  t.same(await poolLogin(f.port, password), { pid: 4242, secret: 777 });
});

t.test('refused: ReadyForQuery without any AuthenticationOk is a protocol violation by the server', async (t) => {
  const f = await fakeServer('ready-without-ok');
  t.teardown(() => f.server.close());
  await t.rejects(poolLogin(f.port, { kind: 'none' }), { code: 'UPSTREAM_PROTOCOL', side: 'server', message: /BackendKeyData before authentication completed/ });
  await t.rejects(authQuery(f.port), { code: 'AUTH_QUERY_FAILED', side: 'server', message: /BackendKeyData before authentication completed/ });
});
