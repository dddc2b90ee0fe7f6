// The console's command grammar: PgBouncer's verbs, case-insensitive, tenant arguments bare (lowercased) or quoted; anything else is 42601.
import t from 'tap';
import { parseCommand } from '../src/console/index.js';

t.test('accepted commands', async (t) => {
  t.same(parseCommand('show pools'), { kind: 'show', topic: 'POOLS' });
  t.same(parseCommand('  SHOW   Stats  '), { kind: 'show', topic: 'STATS' });
  t.same(parseCommand('PAUSE'), { kind: 'pause', tenant: undefined });
  t.same(parseCommand('resume Acme'), { kind: 'resume', tenant: 'acme' });
  t.same(parseCommand('KILL "Acme"'), { kind: 'kill', tenant: 'Acme' });
  t.same(parseCommand('reload'), { kind: 'reload' });
  t.same(parseCommand('shutdown'), { kind: 'shutdown' });
});

t.test('refused with 42601 and a hint', async (t) => {
  for (const sql of ['SELECT 1', 'SHOW', 'SHOW DATABASES', 'SHOW POOLS x', 'KILL', 'KILL a b', 'RELOAD now', 'PAUSE a b', '']) {
    let err: unknown;
    try {
      parseCommand(sql);
    } catch (e) {
      err = e;
    }
    t.match(err, { sqlstate: '42601', hint: /SHOW HELP\|POOLS/ }, sql);
  }
});
