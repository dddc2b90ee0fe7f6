// The relay's framer: every sample stream split at every byte gives the same messages, passes, drops and holds.
import t from 'tap';
import { Act, Framer, type FrameSink } from '../src/pool/framer.js';

function msg(type: string, body: string | Buffer): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const out = Buffer.alloc(5 + b.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + b.length, 1);
  b.copy(out, 5);
  return out;
}

// D passes, N drops, everything else is collected; H holds once (until released).
class Recorder implements FrameSink {
  events: string[] = [];
  passed: Buffer[] = [];
  holdOnce = true;
  header(type: number): Act {
    const c = String.fromCharCode(type);
    if (c === 'H' && this.holdOnce) {
      this.holdOnce = false;
      return Act.Hold;
    }
    if (c === 'D') return Act.Pass;
    if (c === 'N') return Act.Drop;
    return Act.Collect;
  }
  message(type: number, buf: Buffer, start: number, end: number): boolean {
    this.events.push(`${String.fromCharCode(type)}:${buf.subarray(start + 5, end).toString()}`);
    return true;
  }
  pass(buf: Buffer, start: number, end: number): void {
    this.passed.push(Buffer.from(buf.subarray(start, end)));
  }
}

const stream = Buffer.concat([
  msg('T', 'rowdesc'),
  msg('D', 'row-one'),
  msg('N', 'a notice to drop'),
  msg('D', Buffer.alloc(300, 0x61)),
  msg('C', 'SELECT 2'),
  msg('H', ''),
  msg('Z', 'I'),
]);
const expectedEvents = ['T:rowdesc', 'C:SELECT 2', 'H:', 'Z:I'];
const expectedPassed = Buffer.concat([msg('D', 'row-one'), msg('D', Buffer.alloc(300, 0x61))]);

function run(chunks: Buffer[]): Recorder {
  const r = new Recorder();
  const f = new Framer(r, 'server', 1 << 20);
  for (const c of chunks) f.push(c);
  t.ok(f.holding, 'holding after the H header');
  f.release();
  t.notOk(f.holding, 'released');
  return r;
}

t.test('split at every byte', async (t) => {
  let bad = 0;
  for (let i = 0; i <= stream.length; i++) {
    const r = run([stream.subarray(0, i), stream.subarray(i)]);
    if (r.events.join('|') !== expectedEvents.join('|') || !Buffer.concat(r.passed).equals(expectedPassed)) bad++;
  }
  t.equal(bad, 0, 'every two-way split gives the same result');
});

t.test('one byte at a time', async (t) => {
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1));
  const r = run(chunks);
  t.same(r.events, expectedEvents);
  t.ok(Buffer.concat(r.passed).equals(expectedPassed));
});

t.test('a length below 4 is a framing error', async (t) => {
  const f = new Framer(new Recorder(), 'client', 1 << 20);
  t.throws(() => f.push(Buffer.from([0x51, 0, 0, 0, 2])), { code: 'PROTOCOL_FRAMING' });
});
