// Invariant: however a byte stream is cut into chunks (and whenever a held framer is released), every framer reports exactly the messages, bytes and decision of the unsplit stream, and an invalid length anywhere ends in the module's own framing error, never another exception or a hang.
// Property-based (fast-check) with a random seed: on failure fast-check prints the seed, the path and the shrunk counterexample; rerun with
// FC_SEED=<seed> FC_PATH=<path> to replay it. Runs and time per property are bounded so this file stays well under a minute.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import t from 'tap';
import fc from 'fast-check';
import { Act, Framer, FramingError, type FrameSink } from '../src/pool/framer.js';
import { PacketReader, ClientGoneError } from '../src/proxy/packet-reader.js';
import { ClientError } from '../src/errors.js';
import { check, cut, cutPoints } from './fixtures/fuzz.js';

// ---------------------------------------------------------------------------------------------------------------
// src/pool/framer.ts
// ---------------------------------------------------------------------------------------------------------------

function frame(type: number, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out[0] = type;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

const message = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  body: fc.oneof(
    { weight: 6, arbitrary: fc.uint8Array({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 200, maxLength: 2000 }) },
  ).map((a) => Buffer.from(a)),
});

/**
 * How the sink answers: an action per type (Pass/Drop/Collect), Hold at some header calls (by call number) and a
 * refusal (message() returns false) at some message calls. Decided by call number, so a replay after release is
 * asked again, exactly as the framer must ask.
 */
const policy = fc.record({
  acts: fc.array(fc.constantFrom(Act.Pass, Act.Drop, Act.Collect), { minLength: 256, maxLength: 256 }),
  holdAt: fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 5 }),
  refuseAt: fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 5 }),
});
type Policy = { acts: Act[]; holdAt: number[]; refuseAt: number[] };

/** Records every sink call; consecutive passed ranges are merged, since their cut depends on the chunks. */
class Recorder implements FrameSink {
  log: string[] = [];
  private headers = 0;
  private messages = 0;
  private passing: Buffer[] = [];
  constructor(private readonly p: Policy) {}
  private flushPass(): void {
    if (this.passing.length) this.log.push(`pass ${Buffer.concat(this.passing).toString('hex')}`);
    this.passing = [];
  }
  header(type: number, length: number): Act {
    this.flushPass();
    const n = this.headers++;
    this.log.push(`header ${type} ${length}`);
    if (this.p.holdAt.includes(n)) {
      this.log.push('hold');
      return Act.Hold;
    }
    return this.p.acts[type]!;
  }
  message(type: number, buf: Buffer, start: number, end: number): boolean {
    this.flushPass();
    const n = this.messages++;
    this.log.push(`message ${type} ${buf.subarray(start, end).toString('hex')}`);
    if (this.p.refuseAt.includes(n)) {
      this.log.push('refuse');
      return false;
    }
    return true;
  }
  pass(buf: Buffer, start: number, end: number): void {
    this.passing.push(Buffer.from(buf.subarray(start, end)));
  }
  done(): string[] {
    this.flushPass();
    return this.log;
  }
}

/** The sink calls the framer should make for these messages, written from the Act semantics alone (no chunks involved). */
function model(msgs: { type: number; body: Buffer }[], p: Policy): string[] {
  const log: string[] = [];
  let headers = 0;
  let messages = 0;
  let passing: Buffer[] = [];
  const flush = () => {
    if (passing.length) log.push(`pass ${Buffer.concat(passing).toString('hex')}`);
    passing = [];
  };
  for (const m of msgs) {
    const bytes = frame(m.type, m.body);
    for (;;) {
      flush();
      const h = headers++;
      log.push(`header ${m.type} ${4 + m.body.length}`);
      if (p.holdAt.includes(h)) {
        log.push('hold');
        continue; // asked again after release
      }
      const act = p.acts[m.type]!;
      if (act === Act.Pass) passing.push(bytes);
      else if (act === Act.Collect) {
        const k = messages++;
        log.push(`message ${m.type} ${bytes.toString('hex')}`);
        if (p.refuseAt.includes(k)) {
          log.push('refuse');
          continue; // the whole message is offered again after release
        }
      }
      break;
    }
  }
  flush();
  return log;
}

/** Pushes chunks, releasing at the chosen moments (and until nothing is held at the end); returns the error thrown, if any. */
function drive(f: Framer, chunks: Buffer[], releaseAfter: boolean[]): unknown {
  try {
    for (let i = 0; i < chunks.length; i++) {
      f.push(chunks[i]!);
      if (releaseAfter[i % releaseAfter.length] && f.holding) f.release();
    }
    for (let guard = 0; f.holding; guard++) {
      if (guard > 1000) throw new Error('release() never finishes holding: a hang');
      f.release();
    }
  } catch (err) {
    return err;
  }
  return undefined;
}

t.test('Framer: random messages, random chunks, random Hold/refuse and release points give the model sink calls', async (tt) => {
  await check(
    tt,
    'framer split == model',
    fc.property(fc.array(message, { maxLength: 25 }), policy, cutPoints, fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), (msgs, p, points, rel) => {
      const stream = Buffer.concat(msgs.map((m) => frame(m.type, m.body)));
      const r = new Recorder(p);
      const f = new Framer(r, 'client', 1 << 20);
      const err = drive(f, cut(stream, points), rel);
      if (err !== undefined) throw err;
      const got = r.done();
      const want = model(msgs, p);
      if (got.join('\n') !== want.join('\n')) throw new Error(`sink calls differ:\n got ${JSON.stringify(got)}\nwant ${JSON.stringify(want)}`);
      if (f.midMessage || f.holding) throw new Error(`framer not at rest after whole messages (midMessage ${f.midMessage}, holding ${f.holding})`);
      return true;
    }),
    400,
  );
});

const badLength = fc.oneof(
  fc.integer({ min: -0x80000000, max: -1 }),
  fc.integer({ min: 0, max: 3 }),
  fc.constant(-1),
  fc.constant(0x7fffffff),
);

t.test('Framer: an invalid length at any point ends in a FramingError, after exactly the sink calls of the valid prefix', async (tt) => {
  await check(
    tt,
    'framer invalid length',
    fc.property(
      fc.array(message, { maxLength: 12 }),
      fc.integer({ min: 0, max: 255 }),
      fc.oneof(badLength, fc.integer({ min: 1 << 16, max: 0x7fffffff }).map((n) => ({ tooBig: n }))),
      fc.uint8Array({ maxLength: 30 }),
      policy,
      cutPoints,
      fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
      (msgs, badType, bad, trailing, p, points, rel) => {
        // Too big: over the framer's maxMessage (here 64 KiB - 1), so the valid prefix must stay under it.
        const max = (1 << 16) - 1;
        const len = typeof bad === 'number' ? bad : bad.tooBig;
        const head = Buffer.alloc(5);
        head[0] = badType;
        head.writeInt32BE(len, 1);
        const prefix = msgs.filter((m) => m.body.length + 4 <= max);
        const stream = Buffer.concat([...prefix.map((m) => frame(m.type, m.body)), head, Buffer.from(trailing)]);
        const r = new Recorder(p);
        const f = new Framer(r, 'client', max);
        const err = drive(f, cut(stream, points), rel);
        if (!(err instanceof FramingError)) throw new Error(`expected a FramingError, got ${err === undefined ? 'nothing' : String(err)}`);
        if ((err as FramingError).code !== 'PROTOCOL_FRAMING') throw new Error(`wrong code ${(err as FramingError).code}`);
        const got = r.done();
        const want = model(prefix, p);
        if (got.join('\n') !== want.join('\n')) throw new Error(`sink calls before the error differ:\n got ${JSON.stringify(got)}\nwant ${JSON.stringify(want)}`);
        return true;
      },
    ),
    400,
  );
});

t.test('Framer: Hold keeps later chunks in order, and halt() stops everything', async (tt) => {
  await check(
    tt,
    'framer hold order and halt',
    fc.property(fc.array(message, { minLength: 1, maxLength: 15 }), cutPoints, fc.nat(20), (msgs, points, haltAfter) => {
      // Hold every header once; a released framer must deliver each message after its own hold and in stream order.
      const log: string[] = [];
      const heldOnce = new Set<number>();
      let n = 0;
      const sink: FrameSink = {
        header: (_type) => {
          const k = n;
          if (!heldOnce.has(k)) {
            heldOnce.add(k);
            return Act.Hold;
          }
          n++;
          return Act.Collect;
        },
        message: (_type, buf, start, end) => {
          log.push(buf.subarray(start, end).toString('hex'));
          return true;
        },
        pass: () => {
          throw new Error('nothing is passed');
        },
      };
      const f = new Framer(sink, 'server', 1 << 20);
      let releases = 0;
      for (const c of cut(Buffer.concat(msgs.map((m) => frame(m.type, m.body))), points)) {
        f.push(c);
        if (releases === haltAfter) {
          f.halt();
          f.push(c); // ignored after halt
          f.release();
          if (f.holding) throw new Error('holding after halt');
          break;
        }
        while (f.holding) {
          f.release();
          releases++;
        }
      }
      while (f.holding) f.release();
      const want = msgs.map((m) => frame(m.type, m.body).toString('hex'));
      if (log.length > want.length || log.some((h, i) => h !== want[i])) throw new Error(`out of order:\n${log.join('\n')}`);
      return true;
    }),
    300,
  );
});

// ---------------------------------------------------------------------------------------------------------------
// src/proxy/packet-reader.ts
// ---------------------------------------------------------------------------------------------------------------

/** Just enough of a Socket for PacketReader: events plus pause/resume. */
class FakeSocket extends EventEmitter {
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r));

type Item = { kind: 'startup'; body: Buffer } | { kind: 'message'; type: number; body: Buffer };

const item: fc.Arbitrary<Item> = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 80 }).map((b): Item => ({ kind: 'startup', body: Buffer.from(b) })),
  fc.record({ type: fc.integer({ min: 0, max: 255 }), body: fc.uint8Array({ maxLength: 80 }) }).map((m): Item => ({ kind: 'message', type: m.type, body: Buffer.from(m.body) })),
);

function encodeItem(it: Item): Buffer {
  if (it.kind === 'message') return frame(it.type, it.body);
  const out = Buffer.alloc(4 + it.body.length);
  out.writeInt32BE(out.length, 0);
  it.body.copy(out, 4);
  return out;
}

/** Emits the chunks on the fake socket, one per macrotask, then the given ending. */
async function emitAll(sock: FakeSocket, chunks: Buffer[], ending: 'end' | 'error' | 'none'): Promise<void> {
  for (const c of chunks) {
    await tick();
    sock.emit('data', c);
  }
  await tick();
  if (ending === 'end') {
    sock.emit('end');
    sock.emit('close');
  } else if (ending === 'error') sock.emit('error', new Error('ECONNRESET'));
}

/** Awaits `p` with a deadline: a reader that never settles is a hang. */
async function settle<T>(p: Promise<T>, ms = 2000): Promise<{ ok: true; value: T } | { ok: false; err: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('HANG: read did not settle')), ms)));
  try {
    return { ok: true, value: await Promise.race([p, deadline]) };
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('HANG')) throw err;
    return { ok: false, err };
  } finally {
    clearTimeout(timer);
  }
}

t.test('PacketReader: packets split anywhere read back identically, and detach() returns exactly the unread rest', async (tt) => {
  await check(
    tt,
    'packet reader split == whole',
    fc.asyncProperty(fc.array(item, { minLength: 1, maxLength: 8 }), fc.nat(8), fc.uint8Array({ maxLength: 20 }), cutPoints, async (items, nRead, extra, points) => {
      const k = Math.min(nRead, items.length);
      const whole = Buffer.concat([...items.map(encodeItem), Buffer.from(extra)]);
      const initialLen = Math.floor(whole.length * (points[0] ?? 0));
      const sock = new FakeSocket();
      const reader = new PacketReader(sock as unknown as Socket, whole.subarray(0, initialLen), 1 << 16);
      const feeding = emitAll(sock, cut(whole.subarray(initialLen), points.slice(1)), 'none');
      for (let i = 0; i < k; i++) {
        const it = items[i]!;
        const r = await settle(it.kind === 'startup' ? reader.readStartupPacket(1 << 16).then((body) => ({ type: -1, body })) : reader.readMessage(1 << 16));
        if (!r.ok) throw r.err;
        if (it.kind === 'startup') {
          // A startup body shorter than 4 bytes is refused; ours are >= 4, so the length (>= 8) is always valid.
          if (!r.value.body.equals(it.body)) throw new Error(`startup packet ${i} differs`);
        } else if (r.value.type !== it.type || !r.value.body.equals(it.body)) throw new Error(`message ${i} differs`);
      }
      await feeding;
      const rest = reader.detach();
      const consumed = items.slice(0, k).reduce((n, it) => n + encodeItem(it).length, 0);
      if (!rest.equals(whole.subarray(consumed))) throw new Error('detach() did not return exactly the unread bytes');
      return true;
    }),
    200,
  );
});

t.test('PacketReader: invalid lengths and early ends give ClientError or ClientGoneError, never another error or a hang', async (tt) => {
  await check(
    tt,
    'packet reader invalid',
    fc.asyncProperty(
      fc.boolean(),
      fc.oneof(badLength, fc.integer({ min: 4, max: 7 }), fc.integer({ min: 10_001, max: 0x7fffffff }), fc.integer({ min: 8, max: 10_000 })),
      fc.uint8Array({ maxLength: 64 }),
      fc.constantFrom<'end' | 'error' | 'none'>('end', 'error', 'none'),
      cutPoints,
      async (startup, len, tail, ending, points) => {
        const head = startup ? Buffer.alloc(4) : Buffer.alloc(5);
        if (startup) head.writeInt32BE(len, 0);
        else {
          head[0] = 0x70;
          head.writeInt32BE(len, 1);
        }
        const bytes = Buffer.concat([head, Buffer.from(tail)]);
        const sock = new FakeSocket();
        const reader = new PacketReader(sock as unknown as Socket, Buffer.alloc(0), 10_000 + 8);
        const read: Promise<unknown> = startup ? reader.readStartupPacket(10_000) : reader.readMessage(10_000);
        const feeding = emitAll(sock, cut(bytes, points), ending);
        const need = startup ? len : 1 + len;
        const minLen = startup ? 8 : 4;
        const complete = len >= minLen && len <= 10_000 && bytes.length >= need;
        // With no ending and an incomplete packet the reader legitimately waits for more: end it ourselves.
        const r = await settle(
          read,
          ending === 'none' && !complete && len >= minLen && len <= 10_000 ? 300 : 2000,
        ).catch((err: Error) => {
          if (ending === 'none' && err.message.startsWith('HANG')) return { ok: true as const, value: 'waiting' as const };
          throw err;
        });
        await feeding;
        if (complete) {
          if (!r.ok) throw new Error(`a complete valid packet was refused: ${String(r.err)}`);
          return true;
        }
        if (r.ok) {
          if (r.value === 'waiting') return true;
          throw new Error('an invalid or incomplete packet was returned');
        }
        const e = r.err;
        if (len < minLen || len > 10_000) {
          if (!(e instanceof ClientError) || !['STARTUP_INVALID', 'STARTUP_TOO_LARGE'].includes(e.code)) throw new Error(`expected STARTUP_INVALID/TOO_LARGE, got ${String(e)}`);
        } else if (!(e instanceof ClientGoneError)) throw new Error(`expected ClientGoneError for an early end, got ${String(e)}`);
        return true;
      },
    ),
    200,
  );
});
