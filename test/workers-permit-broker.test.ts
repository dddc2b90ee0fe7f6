// The supervisor's permit broker driven by scripted asks: a permit handed back by a worker that also asks goes to the worker below its fair share, not back to the one that asked first.
import t from 'tap';
import { PermitBroker } from '../src/cluster/index.js';

function scripted() {
  const grants: Array<[number, number]> = [];
  const broker = new PermitBroker({ grant: (w, _key, n) => grants.push([w, n]), handOver: () => {} });
  return { broker, grants };
}

t.test('a permit released by a worker above its share goes to the worker below it, though the first asked first', async (t) => {
  const { broker, grants } = scripted();
  t.teardown(() => broker.close());
  broker.request(0, 'k', 20, 18);
  broker.request(1, 'k', 20, 2);
  t.same(grants, [
    [0, 18],
    [1, 2],
  ]);
  // Both workers' clients wait; worker 0 asked again first, so it comes first in the queue.
  broker.request(0, 'k', 20, 2);
  broker.request(1, 'k', 20, 16);
  t.equal(grants.length, 2, 'nothing free: nothing granted');
  // Worker 0 hands a server back (it was asked to, being above its share of 10).
  grants.length = 0;
  for (let i = 0; i < 8; i++) broker.release(0, 'k', 1);
  t.same(
    grants,
    Array.from({ length: 8 }, () => [1, 1]),
    'every permit worker 0 hands back goes to worker 1 until both hold 10',
  );
  const held = broker.snapshot()[0]!.held;
  t.same(held, { 0: 10, 1: 10 }, 'fair shares');
});

t.test('one worker alone gets the whole pool', async (t) => {
  const { broker, grants } = scripted();
  t.teardown(() => broker.close());
  broker.request(0, 'k', 5, 7);
  t.same(grants, [[0, 5]]);
  t.same(broker.snapshot()[0]!.queued, { 0: 2 });
});
