// Splits a byte stream into protocol messages (type byte + int32 length) with cursors, streaming the bodies of messages nobody needs to read.
// Message layout: https://www.postgresql.org/docs/current/protocol-message-formats.html
import { PgporterError } from '../errors.js';

/** What happens to a message once its header is known. */
export const enum Act {
  /** Forward its bytes as they arrive, without buffering the body. */
  Pass = 0,
  /** Consume its bytes and forward nothing. */
  Drop = 1,
  /** Buffer the whole message and hand it to `message()`. */
  Collect = 2,
  /** Leave it and everything after it unread until `release()` (no server to send it to yet). */
  Hold = 3,
}

export interface FrameSink {
  /** A header arrived; `length` counts the body plus the length field itself, as on the wire. */
  header(type: number, length: number): Act;
  /** A whole collected message, header included, at buf[start, end); false holds it (and what follows) until `release()`. */
  message(type: number, buf: Buffer, start: number, end: number): boolean;
  /** Bytes of passed messages, in order. */
  pass(buf: Buffer, start: number, end: number): void;
}

export class FramingError extends PgporterError {
  constructor(side: 'client' | 'server', message: string) {
    super('PROTOCOL_FRAMING', 'protocol_violation', side, message);
  }
}

const HEADER = 5;

export class Framer {
  // Bytes of an incomplete header, or of a message being collected.
  private pend: Buffer[] = [];
  private pendBytes = 0;
  /** Total size of the message being collected; 0 while reading a header. */
  private need = 0;
  /** Bytes left of a message being passed or dropped. */
  private left = 0;
  private leftAct: Act = Act.Pass;
  private held: Buffer[] = [];
  private halted = false;

  constructor(
    private readonly sink: FrameSink,
    private readonly side: 'client' | 'server',
    private readonly maxMessage: number,
  ) {}

  /** True while a message is only partly read: a server must not change hands under it. */
  get midMessage(): boolean {
    return this.pendBytes > 0 || this.left > 0;
  }

  /** True while a message's bytes are being forwarded as they arrive: nothing else may be written to its destination. */
  get passing(): boolean {
    return this.left > 0 && this.leftAct === Act.Pass;
  }

  get holding(): boolean {
    return this.held.length > 0;
  }

  /** Bytes held back waiting for `release()`. */
  get heldBytes(): number {
    let n = 0;
    for (const b of this.held) n += b.length;
    return n;
  }

  /** Stops all further processing (the connection is closing). */
  halt(): void {
    this.halted = true;
    this.held = [];
    this.pend = [];
  }

  push(chunk: Buffer): void {
    if (this.halted) return;
    if (this.held.length) {
      this.held.push(chunk);
      return;
    }
    this.run(chunk);
  }

  /** Processes what was held; stops again if the sink holds again. */
  release(): void {
    const held = this.held;
    this.held = [];
    for (let i = 0; i < held.length; i++) {
      if (this.halted) return;
      if (this.held.length) {
        for (let j = i; j < held.length; j++) this.held.push(held[j]!);
        return;
      }
      this.run(held[i]!);
    }
  }

  private run(chunk: Buffer): void {
    const sink = this.sink;
    const len = chunk.length;
    let pos = 0;
    if (this.left > 0) {
      const n = Math.min(this.left, len);
      if (this.leftAct === Act.Pass) sink.pass(chunk, 0, n);
      this.left -= n;
      pos = n;
    }
    if (this.pendBytes > 0 && pos < len) {
      pos = this.resume(chunk, pos);
      if (pos < 0) return;
    }
    while (pos < len && !this.halted) {
      if (len - pos < HEADER) {
        this.stash(chunk.subarray(pos));
        return;
      }
      const type = chunk[pos]!;
      const mlen = chunk.readInt32BE(pos + 1);
      if (mlen < 4 || mlen > this.maxMessage) throw new FramingError(this.side, `invalid message length ${mlen} for message type ${type}`);
      const total = 1 + mlen;
      const act = sink.header(type, mlen);
      if (act === Act.Collect) {
        if (pos + total <= len) {
          if (!sink.message(type, chunk, pos, pos + total)) {
            this.held.push(chunk.subarray(pos));
            return;
          }
          pos += total;
        } else {
          this.need = total;
          this.stash(chunk.subarray(pos));
          return;
        }
      } else if (act === Act.Hold) {
        this.held.push(chunk.subarray(pos));
        return;
      } else {
        const avail = Math.min(total, len - pos);
        if (act === Act.Pass) sink.pass(chunk, pos, pos + avail);
        pos += avail;
        if (avail < total) {
          this.left = total - avail;
          this.leftAct = act;
          return;
        }
      }
    }
  }

  /** Continues an incomplete header or collected message; returns the next position, or -1 when the chunk is used up. */
  private resume(chunk: Buffer, pos: number): number {
    const len = chunk.length;
    if (this.need === 0) {
      const want = HEADER - this.pendBytes;
      if (len - pos < want) {
        this.stash(chunk.subarray(pos));
        return -1;
      }
      this.stash(chunk.subarray(pos, pos + want));
      pos += want;
      const head = Buffer.concat(this.pend, HEADER);
      this.pend = [];
      this.pendBytes = 0;
      const type = head[0]!;
      const mlen = head.readInt32BE(1);
      if (mlen < 4 || mlen > this.maxMessage) throw new FramingError(this.side, `invalid message length ${mlen} for message type ${type}`);
      const total = 1 + mlen;
      const act = this.sink.header(type, mlen);
      if (act === Act.Hold) {
        this.held.push(head, chunk.subarray(pos));
        return -1;
      }
      if (act === Act.Collect) {
        this.need = total;
        this.pend = [head];
        this.pendBytes = HEADER;
        if (total === HEADER) return this.complete(chunk, pos);
      } else {
        if (act === Act.Pass) this.sink.pass(head, 0, HEADER);
        const rest = total - HEADER;
        const n = Math.min(rest, len - pos);
        if (act === Act.Pass && n > 0) this.sink.pass(chunk, pos, pos + n);
        pos += n;
        if (n < rest) {
          this.left = rest - n;
          this.leftAct = act;
          return -1;
        }
        return pos;
      }
    }
    const n = Math.min(this.need - this.pendBytes, len - pos);
    if (n > 0) this.stash(chunk.subarray(pos, pos + n));
    pos += n;
    if (this.pendBytes < this.need) return -1;
    return this.complete(chunk, pos);
  }

  private complete(chunk: Buffer, pos: number): number {
    // Joined once: a large message arriving in many chunks is copied a single time.
    const msg = this.pend.length === 1 ? this.pend[0]! : Buffer.concat(this.pend, this.need);
    this.pend = [];
    this.pendBytes = 0;
    this.need = 0;
    if (!this.sink.message(msg[0]!, msg, 0, msg.length)) {
      this.held.push(msg, chunk.subarray(pos));
      return -1;
    }
    return pos;
  }

  private stash(b: Buffer): void {
    this.pend.push(b);
    this.pendBytes += b.length;
  }
}
