// Pipelined messages the server must answer before a server changes hands: errors mid-pipeline, CopyFail, COPY in extended mode.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { startupMessage } from './fixtures/clients.js';
import { startPoolEnv } from './fixtures/pool-env.js';
import { Query, cat, msg } from './fixtures/wire.js';
import { USERS } from './fixtures/postgres.js';

const env = await startPoolEnv({ mode: 'transaction', size: 1 });
t.teardown(() => env.stop());
env.pg.sql(`CREATE TABLE cp (x int); GRANT ALL ON cp TO ${USERS.trust.user};`);

const m = msg;
const Q = Query;

/** A raw protocol client: connects, logs in (trust), then collects message types. */
class Raw {
  private buf = Buffer.alloc(0);
  readonly types: string[] = [];
  readonly bodies: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 5 && this.buf.length >= 1 + this.buf.readInt32BE(1)) {
        const len = this.buf.readInt32BE(1);
        this.types.push(String.fromCharCode(this.buf[0]!));
        this.bodies.push(this.buf.subarray(5, 1 + len));
        this.buf = this.buf.subarray(1 + len);
      }
      this.waiter?.();
    });
  }
  static async open(): Promise<Raw> {
    const s = connect({ host: '127.0.0.1', port: env.porter.port });
    await new Promise<void>((r) => s.once('connect', () => r()));
    const raw = new Raw(s);
    s.write(startupMessage({ user: USERS.trust.user, database: 'postgres' }));
    await raw.until('Z', 1);
    raw.types.length = 0;
    raw.bodies.length = 0;
    return raw;
  }
  /** Waits until `n` messages of `type` have arrived. */
  async until(type: string, n: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (this.types.filter((x) => x === type).length < n) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} ${type}; got ${this.types.join('')}`);
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 100);
      });
    }
  }
  close(): void {
    this.socket.end(m('X'));
  }
}

t.test('a query pipelined after a failing one still gets its answer', async (t) => {
  const c = await Raw.open();
  t.teardown(() => c.close());
  c.socket.write(Buffer.concat([Q('SELECT 1/0'), Q('SELECT 42')]));
  await c.until('Z', 2);
  t.same(c.types.filter((x) => 'EZDC'.includes(x)), ['E', 'Z', 'D', 'C', 'Z']);
  t.equal(c.bodies[c.types.indexOf('D')]!.subarray(6).toString(), '42');
});

t.test('CopyFail then a pipelined query: both answered, server reusable', async (t) => {
  const c = await Raw.open();
  t.teardown(() => c.close());
  c.socket.write(Buffer.concat([Q('COPY cp FROM STDIN'), m('d', Buffer.from('1\n')), m('f', 'client gave up'), Q('SELECT 7')]));
  await c.until('Z', 2);
  t.same(c.types.filter((x) => 'GEZDC'.includes(x)), ['G', 'E', 'Z', 'D', 'C', 'Z']);
  const other = await Raw.open(); // pool size 1: only served if the server came back
  t.teardown(() => other.close());
  other.socket.write(Q('SELECT 8'));
  await other.until('Z', 1);
  t.ok(other.types.includes('D'), 'another client is served on the same single server');
});

t.test('COPY in extended mode with the Sync libpq sends before CopyDone', async (t) => {
  const c = await Raw.open();
  t.teardown(() => c.close());
  const parse = m('P', cat('', 'COPY cp FROM STDIN', Buffer.from([0, 0])));
  const bind = m('B', Buffer.concat([Buffer.from('\0\0'), Buffer.from([0, 0, 0, 0, 0, 0])]));
  const exec = m('E', Buffer.concat([Buffer.from('\0'), Buffer.alloc(4)]));
  c.socket.write(Buffer.concat([parse, bind, exec, m('S')]));
  await c.until('G', 1);
  c.socket.write(Buffer.concat([m('d', Buffer.from('5\n6\n')), m('c'), m('S')]));
  await c.until('Z', 1);
  t.ok(c.types.includes('C'), 'COPY completed');
  c.socket.write(Q('SELECT count(*) FROM cp'));
  await c.until('Z', 2);
  t.equal(c.bodies[c.types.lastIndexOf('D')]!.subarray(6).toString(), '2', 'two rows copied');
  const other = await Raw.open();
  t.teardown(() => other.close());
  other.socket.write(Q('SELECT 9'));
  await other.until('Z', 1);
  t.ok(other.types.includes('D'), 'the server was released after the COPY');
});

t.test('named statement: Close answered, DEALLOCATE and re-Parse work', async (t) => {
  const c = await Raw.open();
  t.teardown(() => c.close());
  const parse = (name: string, sql: string) => m('P', cat(name, sql, Buffer.from([0, 0])));
  const bind = (stmt: string) => m('B', Buffer.concat([Buffer.from('\0' + stmt + '\0'), Buffer.from([0, 0, 0, 0, 0, 0])]));
  const exec = m('E', Buffer.concat([Buffer.from('\0'), Buffer.alloc(4)]));
  c.socket.write(Buffer.concat([parse('s1', 'SELECT 11'), bind('s1'), exec, m('C', Buffer.from('Ss1\0')), m('S')]));
  await c.until('Z', 1);
  t.same(c.types.join(''), '12DC3Z', 'ParseComplete, BindComplete, row, CommandComplete, CloseComplete, ReadyForQuery');
  c.socket.write(Buffer.concat([parse('s1', 'SELECT 12'), bind('s1'), exec, m('S')]));
  await c.until('Z', 2);
  t.equal(c.bodies[c.types.lastIndexOf('D')]!.subarray(6).toString(), '12', 'the name is free again after Close');
  c.socket.write(Q('DEALLOCATE s1'));
  await c.until('Z', 3);
  t.notOk(c.types.slice(c.types.lastIndexOf('Z', c.types.length - 2)).includes('E'), 'DEALLOCATE of a known statement succeeds');
  c.socket.write(Buffer.concat([bind('s1'), exec, m('S')]));
  await c.until('Z', 4);
  t.ok(c.types.slice(-3).includes('E'), 'a deallocated statement is gone for the client');
});
