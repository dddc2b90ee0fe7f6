// The floor under pgporter's cost per new connection: a Node server that answers pgbench -S -C from canned bytes (no upstream, no parsing beyond the first byte), to be measured like pgporter with connect-cost.ts's method.
// Run with `npm run build && PORT=6544 node dist/bench/connect-floor.js`, then e.g. `PGSSLMODE=disable pgbench -n -S -C -c 10 -j 2
// -t 300 -h 127.0.0.1 -p 6544 -U x postgres` and read /proc/PID/stat before and after (or run it under valgrind --tool=callgrind).
import { createServer } from 'node:net';

function msg(type: string, body: Buffer): Buffer {
  const b = Buffer.alloc(5 + body.length);
  b[0] = type.charCodeAt(0);
  b.writeInt32BE(4 + body.length, 1);
  body.copy(b, 5);
  return b;
}
const status = (k: string, v: string) => msg('S', Buffer.from(`${k}\0${v}\0`));
const ready = msg('Z', Buffer.from('I'));
const greeting = Buffer.concat([
  msg('R', Buffer.alloc(4)),
  status('server_version', '15.0'),
  status('client_encoding', 'UTF8'),
  status('DateStyle', 'ISO, MDY'),
  status('integer_datetimes', 'on'),
  status('standard_conforming_strings', 'on'),
  msg('K', Buffer.alloc(8)),
  ready,
]);
// int4 columns; one row of '1' (or, for pgbench's partition query, 1, NULL, 0).
const column = (name: string) => Buffer.concat([Buffer.from(`${name}\0`), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 23, 0, 4, 255, 255, 255, 255, 0, 0])]);
const done = Buffer.concat([msg('C', Buffer.from('SELECT 1\0')), ready]);
const oneColumn = Buffer.concat([msg('T', Buffer.concat([Buffer.from([0, 1]), column('x')])), msg('D', Buffer.from([0, 1, 0, 0, 0, 1, 0x31])), done]);
const threeColumns = Buffer.concat([
  msg('T', Buffer.concat([Buffer.from([0, 3]), column('n'), column('p'), column('c')])),
  msg('D', Buffer.from([0, 3, 0, 0, 0, 1, 0x31, 255, 255, 255, 255, 0, 0, 0, 1, 0x30])),
  done,
]);

const server = createServer({ pauseOnConnect: true }, (s) => {
  s.setNoDelay(true);
  s.setKeepAlive(true, 60_000);
  let started = false;
  s.on('error', () => {});
  s.on('data', (d: Buffer) => {
    if (!started) {
      started = true;
      s.write(greeting);
    } else if (d[0] === 0x51) s.write(d.includes('partstrat') ? threeColumns : oneColumn);
    else if (d[0] === 0x58) s.destroy();
  });
  s.on('end', () => s.destroy());
  s.resume();
});
server.listen(Number(process.env.PORT ?? 6544), '127.0.0.1', () => process.stdout.write(`listening, pid ${process.pid}\n`));
