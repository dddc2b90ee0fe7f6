// What a server still owes for the messages sent to it, in order, so pgporter knows which replies to forward, swallow or make up.
// Replies per message: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY

/** One expected reply, by the message that asked for it. */
export const enum Exp {
  /** A client's Parse: ParseComplete forwarded. */
  Parse = 1,
  /** A Parse pgporter injected: ParseComplete swallowed. */
  ParseSwallow,
  /** A client's Parse the server already had: pgporter makes up the ParseComplete. */
  ParseSynth,
  /** A client's Parse of a name it already has, sent so the server answers 42P05 itself: fails, and changes nothing. */
  ParseDup,
  Bind,
  Describe,
  Execute,
  /** A client's Close of a portal or an unknown statement: CloseComplete forwarded. */
  Close,
  /** A Close pgporter injected (LRU eviction): CloseComplete swallowed. */
  CloseSwallow,
  /** A client's Close of a named statement, kept on the server for others: pgporter makes up the CloseComplete. */
  CloseSynth,
  /** Sync: one ReadyForQuery. */
  Sync,
  /** A simple Query: everything up to one ReadyForQuery. */
  Query,
  /** A Query pgporter injected (SET, reset): everything up to its ReadyForQuery swallowed. */
  QuerySwallow,
  /** FunctionCall: its result and one ReadyForQuery. */
  FunctionCall,
  /** The settings query pgporter sends while a server takes on a client's settings: swallowed, but its outcome decides. */
  Settings,
  /** The client ended a COPY (CopyDone/CopyFail) before the server's CopyInResponse was seen. */
  CopyEnd,
}

/** True for entries answered by ReadyForQuery. */
export function isSyncLike(e: Exp): boolean {
  return e === Exp.Sync || e === Exp.Query || e === Exp.QuerySwallow || e === Exp.FunctionCall || e === Exp.Settings;
}

/** Ring buffer of expectation codes with an optional tag each (the statement concerned); no allocation per message. */
export class ExpectQueue<T> {
  private codes = new Uint8Array(64);
  private names: (T | undefined)[] = new Array<T | undefined>(64);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(code: Exp, name?: T): void {
    if (this.count === this.codes.length) this.grow();
    const i = (this.head + this.count) & (this.codes.length - 1);
    this.codes[i] = code;
    this.names[i] = name;
    this.count++;
  }

  /** Code of the oldest entry, or 0 when empty. */
  peek(): Exp | 0 {
    return this.count === 0 ? 0 : (this.codes[this.head] as Exp);
  }

  peekTag(): T | undefined {
    return this.count === 0 ? undefined : this.names[this.head];
  }

  at(i: number): Exp | 0 {
    return i >= this.count ? 0 : (this.codes[(this.head + i) & (this.codes.length - 1)] as Exp);
  }

  shift(): Exp | 0 {
    if (this.count === 0) return 0;
    const code = this.codes[this.head] as Exp;
    this.names[this.head] = undefined;
    this.head = (this.head + 1) & (this.codes.length - 1);
    this.count--;
    return code;
  }

  /** Drops entries up to and including the first answered by ReadyForQuery; returns that one's code (0: none). */
  shiftThroughSync(): Exp | 0 {
    while (this.count) {
      const x = this.shift() as Exp;
      if (isSyncLike(x)) return x;
    }
    return 0;
  }

  /**
   * CopyInResponse arrived for the head entry: the server ignores Sync until the client's CopyDone/CopyFail, so the
   * Syncs queued before that client message expect no reply; the CopyEnd marking it is consumed. Returns true while
   * the copy is still open (the client has not ended it yet).
   */
  copyStarted(): boolean {
    let i = 1;
    while (i < this.count) {
      const x = this.at(i);
      if (x === Exp.Sync) this.removeAt(i);
      else if (x === Exp.CopyEnd) {
        this.removeAt(i);
        return false;
      } else i++;
    }
    return true;
  }

  /** Removes the entry at position i (COPY bookkeeping only; O(n)). */
  removeAt(i: number): void {
    if (i >= this.count) return;
    const mask = this.codes.length - 1;
    for (let j = i; j < this.count - 1; j++) {
      const a = (this.head + j) & mask;
      const b = (this.head + j + 1) & mask;
      this.codes[a] = this.codes[b]!;
      this.names[a] = this.names[b];
    }
    this.names[(this.head + this.count - 1) & mask] = undefined;
    this.count--;
  }

  clear(): void {
    this.names.fill(undefined);
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    // Sizes stay powers of two so the index wraps with a mask.
    const size = this.codes.length;
    const codes = new Uint8Array(size * 2);
    const names = new Array<T | undefined>(size * 2);
    for (let j = 0; j < this.count; j++) {
      codes[j] = this.codes[(this.head + j) & (size - 1)]!;
      names[j] = this.names[(this.head + j) & (size - 1)];
    }
    this.codes = codes;
    this.names = names;
    this.head = 0;
  }
}
