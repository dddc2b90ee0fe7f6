// Which processes accept new connections: with workerScheduling kernel each worker holds the listening socket and accepts itself; with round-robin only the supervisor holds it and hands sockets out.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';
import { childPids, workerOf } from './fixtures/workers.js';

/** The inode of the socket listening on 127.0.0.1:port (state 0A in /proc/net/tcp). */
function listeningInode(port: number): string {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === `0100007F:${hex}` && f[3] === '0A') return f[9]!;
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/** The processes among `pids` with a descriptor on that socket. */
function holders(pids: number[], inode: string): number[] {
  return pids.filter((pid) => readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
    } catch {
      return false;
    }
  }));
}

for (const scheduling of ['kernel', 'round-robin'] as const) {
  t.test(`workerScheduling ${scheduling}`, async (t) => {
    const env = await startPoolEnv({ mode: 'transaction', size: 2 }, { config: { workers: 2, workerScheduling: scheduling } });
    t.teardown(() => env.stop());
    const supervisor = env.porter.pid!;
    const workers = childPids(supervisor);
    t.equal(workers.length, 2, 'two worker processes');
    const inode = listeningInode(env.porter.port);
    const held = holders(workers, inode);
    if (scheduling === 'kernel') t.same(held.sort(), [...workers].sort(), 'every worker holds the listening socket and accepts from it itself');
    else t.same(held, [], 'no worker holds the listening socket: the supervisor accepts and hands each connection over');
    const seen = new Set<number>();
    const clients: pg.Client[] = [];
    t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => {}))));
    for (let i = 0; i < 64 && seen.size < 2; i++) {
      const c = new pg.Client(env.conn);
      c.on('error', () => {});
      await c.connect();
      clients.push(c);
      t.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
      seen.add(workerOf(c));
    }
    t.same([...seen].sort(), [0, 1], 'both workers serve clients');
  });
}
