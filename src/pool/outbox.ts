// Collects what one socket should receive during a tick (byte ranges of incoming chunks, coalesced, and built messages) and writes it once.
import type { Socket } from 'node:net';

/** Below this many bytes, joining the parts costs less than one writev per part. */
const JOIN_LIMIT = 16 * 1024;

export class Outbox {
  /** Undefined when empty: an idle connection keeps no array (the next write makes one). */
  private parts: Buffer[] | undefined;
  private bytes = 0;
  // The open range: consecutive forwarded messages of one chunk become one subarray.
  private chunk: Buffer | undefined;
  private start = 0;
  private end = 0;

  constructor(private readonly socket: Socket) {}

  /** Queues chunk[start, end); extends the previous range when it continues it. */
  range(chunk: Buffer, start: number, end: number): void {
    if (chunk === this.chunk && start === this.end) {
      this.end = end;
      return;
    }
    this.cut();
    this.chunk = chunk;
    this.start = start;
    this.end = end;
  }

  /** Queues a message pgporter built (or copied). */
  push(buf: Buffer): void {
    this.cut();
    (this.parts ??= []).push(buf);
    this.bytes += buf.length;
  }

  get pending(): number {
    return this.bytes + (this.chunk ? this.end - this.start : 0);
  }

  /** Writes everything queued; false when the socket's buffer is over its high-water mark (pause the source). */
  flush(): boolean {
    this.cut();
    const parts = this.parts;
    if (parts === undefined) return true;
    this.parts = undefined;
    const bytes = this.bytes;
    this.bytes = 0;
    const s = this.socket;
    if (s.destroyed || !s.writable) return true;
    if (parts.length === 1) return s.write(parts[0]!);
    if (bytes <= JOIN_LIMIT) return s.write(Buffer.concat(parts, bytes));
    s.cork();
    let ok = true;
    for (const p of parts) ok = s.write(p);
    s.uncork();
    return ok;
  }

  /** Drops whatever is queued (the destination is gone). */
  discard(): void {
    this.parts = undefined;
    this.bytes = 0;
    this.chunk = undefined;
  }

  private cut(): void {
    if (this.chunk === undefined) return;
    if (this.end > this.start) {
      (this.parts ??= []).push(this.chunk.subarray(this.start, this.end));
      this.bytes += this.end - this.start;
    }
    this.chunk = undefined;
  }
}
