// Reads the few length-prefixed packets of the startup phase from a socket (not the relay: startup may use promises).
import type { Socket } from 'node:net';
import { ClientError, PgporterError } from '../errors.js';

/** The client closed or broke the connection before startup finished. */
export class ClientGoneError extends PgporterError {
  constructor(reason: string) {
    super('CLIENT_GONE', 'client_gone', 'client', reason);
  }
}

const EMPTY = Buffer.alloc(0);

/** The reader a socket's events go to: one set of listener functions for every reader, none made per connection. */
const READER = Symbol('pgporter.reader');
type ReaderSocket = Socket & { [READER]?: PacketReader | undefined };

function onData(this: ReaderSocket, chunk: Buffer): void {
  this[READER]?.received(chunk);
}
function onEnd(this: ReaderSocket): void {
  this[READER]?.fail(new ClientGoneError('client closed the connection during startup'));
}
function onError(this: ReaderSocket, err: Error): void {
  this[READER]?.fail(new ClientGoneError(`client socket error during startup: ${err.message}`));
}

/** Buffers socket data and hands out whole startup packets or typed messages, one promise at a time. */
export class PacketReader {
  private buf: Buffer;
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(
    private socket: Socket,
    initial: Buffer,
    private readonly maxBuffered: number,
  ) {
    this.buf = initial;
    this.attach();
  }

  private attach(): void {
    const s = this.socket as ReaderSocket;
    s[READER] = this;
    s.on('data', onData);
    s.on('end', onEnd);
    s.on('close', onEnd);
    s.on('error', onError);
    s.resume();
  }

  /** Socket data (through the shared listener). */
  received(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.wake();
  }

  /**
   * Stops reading and returns bytes received but not consumed (the caller passes them on). `handOver`: the caller
   * attaches its own 'data' listener before this tick ends, so the socket may stay flowing (no pause, then a resume
   * scheduled for the next tick, per connection); no data event can fire in between.
   */
  detach(handOver = false): Buffer {
    const s = this.socket as ReaderSocket;
    s.off('data', onData);
    s.off('end', onEnd);
    s.off('close', onEnd);
    s.off('error', onError);
    s[READER] = undefined;
    if (!handOver) s.pause();
    const rest = this.buf;
    this.buf = EMPTY;
    return rest;
  }

  /** Switches to a new socket (after a TLS upgrade); nothing may be buffered at that point. */
  rebind(socket: Socket): void {
    this.detach();
    this.socket = socket;
    this.attach();
  }

  get buffered(): number {
    return this.buf.length;
  }

  /** The socket ended or failed: the read under way (or the next) rejects with `err`. */
  fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async need(n: number): Promise<void> {
    while (this.buf.length < n) {
      if (this.failure) throw this.failure;
      if (this.buf.length > this.maxBuffered) throw new ClientError('STARTUP_TOO_LARGE', 'startup packet too large');
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** An untyped startup packet (int32 length including itself, then body); returns the body. */
  async readStartupPacket(maxSize: number): Promise<Buffer> {
    // Awaited only when bytes are missing: a packet already received costs no extra turn of the microtask queue.
    if (this.buf.length < 4) await this.need(4);
    const len = this.buf.readInt32BE(0);
    if (len < 8 || len > maxSize) {
      throw new ClientError(len > maxSize ? 'STARTUP_TOO_LARGE' : 'STARTUP_INVALID', len > maxSize ? 'startup packet too large' : `invalid length of startup packet: ${len}`);
    }
    if (this.buf.length < len) await this.need(len);
    return this.take(len).subarray(4);
  }

  /** A typed message (type byte, int32 length, body), e.g. a PasswordMessage. */
  async readMessage(maxSize: number): Promise<{ type: number; body: Buffer }> {
    if (this.buf.length < 5) await this.need(5);
    const type = this.buf[0]!;
    const len = this.buf.readInt32BE(1);
    if (len < 4 || len > maxSize) throw new ClientError('STARTUP_INVALID', `invalid message length ${len} during startup`);
    if (this.buf.length < 1 + len) await this.need(1 + len);
    const msg = this.take(1 + len);
    return { type, body: msg.subarray(5) };
  }
}
