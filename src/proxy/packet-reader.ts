// Reads the few length-prefixed packets of the startup phase from a socket (not the relay: startup may use promises).
import type { Socket } from 'node:net';
import { ClientError, PgporterError } from '../errors.js';

/** The client closed or broke the connection before startup finished. */
export class ClientGoneError extends PgporterError {
  constructor(reason: string) {
    super('CLIENT_GONE', 'client_gone', 'client', reason);
  }
}

/** Buffers socket data and hands out whole startup packets or typed messages, one promise at a time. */
export class PacketReader {
  private buf: Buffer;
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.wake();
  };
  private readonly onEnd = () => this.fail(new ClientGoneError('client closed the connection during startup'));
  private readonly onError = (err: Error) => this.fail(new ClientGoneError(`client socket error during startup: ${err.message}`));

  constructor(
    private socket: Socket,
    initial: Buffer,
    private readonly maxBuffered: number,
  ) {
    this.buf = initial;
    this.attach();
  }

  private attach(): void {
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('close', this.onEnd);
    this.socket.on('error', this.onError);
    this.socket.resume();
  }

  /** Stops reading and returns bytes received but not consumed (the caller passes them on). */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    this.socket.pause();
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
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

  private fail(err: Error): void {
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
    await this.need(4);
    const len = this.buf.readInt32BE(0);
    if (len < 8 || len > maxSize) {
      throw new ClientError(len > maxSize ? 'STARTUP_TOO_LARGE' : 'STARTUP_INVALID', len > maxSize ? 'startup packet too large' : `invalid length of startup packet: ${len}`);
    }
    await this.need(len);
    return this.take(len).subarray(4);
  }

  /** A typed message (type byte, int32 length, body), e.g. a PasswordMessage. */
  async readMessage(maxSize: number): Promise<{ type: number; body: Buffer }> {
    await this.need(5);
    const type = this.buf[0]!;
    const len = this.buf.readInt32BE(1);
    if (len < 4 || len > maxSize) throw new ClientError('STARTUP_INVALID', `invalid message length ${len} during startup`);
    await this.need(1 + len);
    const msg = this.take(1 + len);
    return { type, body: msg.subarray(5) };
  }
}
