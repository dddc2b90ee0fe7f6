// Accepted client sockets have TCP_NODELAY and a 60 s keepalive, with the values a per-socket setKeepAlive gives, whether they inherit them from the listener or get them one by one.
import t from 'tap';
import { connect, createServer, type Socket } from 'node:net';
import { tuneAccepted } from '../src/proxy/index.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { acceptedSocketOptions, type SocketOptions } from './fixtures/socket-options.js';
import { sleep } from './fixtures/ports.js';
import { childPids } from './fixtures/workers.js';

function connectTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Options of the socket `pids` accepted for a client of `port` that sends nothing (the front door waits for its startup). */
async function optionsSeen(port: number, pids: () => number[]): Promise<SocketOptions> {
  const client = await connectTo(port);
  try {
    // The listener hands its options to accept() at once; a per-socket fallback sets them in the accept callback,
    // which the lookup may find a moment early: give it time to run.
    await sleep(300);
    const { pid: _pid, ...options } = await acceptedSocketOptions(pids, port, client.localPort!);
    return options;
  } finally {
    client.destroy();
  }
}

// The yardstick, proved first: what this Node makes of setNoDelay(true) and setKeepAlive(true, 60 s) on one socket.
const server = createServer((s) => {
  tuneAccepted(s);
  s.on('error', () => {});
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
const reference = await optionsSeen(port, () => [process.pid]);
server.close();

t.test('the yardstick: a socket tuned on its own has nodelay and keepalive after 60 s idle', async (t) => {
  t.equal(reference.nodelay, 1, 'TCP_NODELAY');
  t.equal(reference.keepalive, 1, 'SO_KEEPALIVE');
  t.equal(reference.keepidle, 60, 'TCP_KEEPIDLE in seconds');
});

t.test('one process: the accepted socket has the same options as the yardstick', async (t) => {
  const porter = await PgporterProcess.start({ config: { workers: 1, log: { level: 'info' } } });
  t.teardown(() => porter.stop());
  t.same(await optionsSeen(porter.port, () => [porter.pid!]), reference);
});

t.test('two workers sharing the listener (kernel scheduling): the same options', async (t) => {
  const porter = await PgporterProcess.start({ config: { workers: 2, workerScheduling: 'kernel', log: { level: 'info' } } });
  t.teardown(() => porter.stop());
  t.same(await optionsSeen(porter.port, () => childPids(porter.pid!)), reference);
});

t.test('two workers, round-robin (sockets handed over, set one by one): the same options', async (t) => {
  const porter = await PgporterProcess.start({ config: { workers: 2, workerScheduling: 'round-robin', log: { level: 'info' } } });
  t.teardown(() => porter.stop());
  t.same(await optionsSeen(porter.port, () => childPids(porter.pid!)), reference);
});
