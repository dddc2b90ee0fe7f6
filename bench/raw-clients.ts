// Clients speaking just enough of the wire protocol to log in (or be refused) and sit idle: thousands of them cost the benchmark little.
import { createConnection, type Socket } from 'node:net';
import { USER } from './targets.js';

// StartupMessage, protocol 3.0 (protocol-message-formats.html): length, version, name/value pairs, a closing NUL.
function startupMessage(): Buffer {
  const body = Buffer.from(`user\0${USER}\0database\0postgres\0\0`);
  const out = Buffer.alloc(8 + body.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(196608, 4);
  body.copy(out, 8);
  return out;
}
const STARTUP = startupMessage();
const TERMINATE = Buffer.from([0x58 /* X */, 0, 0, 0, 4]);

export type Attempt = { ok: true; socket: Socket } | { ok: false; message: string };

/** Opens one client: ok with the socket once it reads ReadyForQuery ('Z', the socket stays open and unread), or the ErrorResponse's text. */
export function attempt(port: number): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port });
    let buf: Buffer = Buffer.alloc(0);
    s.on('error', (err) => {
      s.destroy();
      reject(err);
    });
    s.on('connect', () => s.write(STARTUP));
    s.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 5) {
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) return;
        const code = buf[0];
        const body = buf.subarray(5, 1 + len);
        buf = buf.subarray(1 + len);
        if (code === 0x45 /* E */) {
          s.removeAllListeners();
          s.on('error', () => {});
          s.destroy();
          return resolve({ ok: false, message: body.toString().replace(/\0/g, ' ').trim() });
        }
        if (code === 0x5a /* Z */) {
          s.removeAllListeners();
          s.on('error', () => {});
          return resolve({ ok: true, socket: s });
        }
      }
    });
  });
}

/** Runs `n` attempts, at most `concurrency` at a time; returns them in completion order and the seconds they took. */
export async function attemptMany(port: number, n: number, concurrency: number): Promise<{ results: Attempt[]; seconds: number }> {
  const results: Attempt[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) {
      next++;
      results.push(await attempt(port));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  } catch (err) {
    closeNow(results);
    throw err;
  }
  return { results, seconds: (performance.now() - t0) / 1000 };
}

/** Logs in `n` clients that then sit idle; throws if any is refused. */
export async function loginMany(port: number, n: number, concurrency: number): Promise<{ sockets: Socket[]; seconds: number }> {
  const { results, seconds } = await attemptMany(port, n, concurrency);
  const refused = results.find((r) => !r.ok);
  if (refused && !refused.ok) {
    closeNow(results);
    throw new Error(`a login was refused: ${refused.message}`);
  }
  return { sockets: results.map((r) => (r as { socket: Socket }).socket), seconds };
}

function closeNow(results: Attempt[]): void {
  for (const r of results) if (r.ok) r.socket.destroy();
}

/** Sends Terminate on every socket and waits for each to close. */
export async function closeAll(sockets: Socket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((r) => {
          s.once('close', () => r());
          s.end(TERMINATE);
        }),
    ),
  );
}
