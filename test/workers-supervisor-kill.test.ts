// With two workers, SIGKILL of the supervisor leaves no worker behind: each exits when its IPC channel closes.
import t from 'tap';
import { startPoolEnv } from './fixtures/pool-env.js';
import { waitFor } from './fixtures/ports.js';
import { alive, childPids } from './fixtures/workers.js';

t.test('SIGKILL of the supervisor: both workers exit', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 1 }, { config: { workers: 2 } });
  t.teardown(() => env.stop());
  const supervisor = env.porter.pid!;
  const workers = childPids(supervisor);
  t.equal(workers.length, 2, `two worker processes (${workers.join(', ')})`);
  process.kill(supervisor, 'SIGKILL');
  await waitFor(() => workers.every((p) => !alive(p)), 'every worker to exit', 5000);
  t.pass('no worker survives its supervisor');
});
