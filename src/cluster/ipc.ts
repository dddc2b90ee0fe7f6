// Typed messages between the supervisor and a worker over the cluster IPC channel: requests answered by id (with a timeout), and one-way events.

/** One side's vocabulary: requests it answers (body and answer types) and events it receives. */
export interface Protocol {
  requests: Record<string, [unknown, unknown]>;
  events: Record<string, unknown>;
}

/** The raw channel: a cluster Worker on the supervisor's side, `process` on the worker's. */
export interface Channel {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  connected?: boolean;
}

type Wire =
  | { pgp: 'req'; id: number; op: string; body: unknown }
  | { pgp: 'res'; id: number; body: unknown; error?: undefined }
  | { pgp: 'res'; id: number; error: string }
  | { pgp: 'ev'; op: string; body: unknown };

/** Raised when the other side did not answer in time, answered with an error, or went away. */
export class IpcError extends Error {
  constructor(
    message: string,
    readonly code: 'IPC_TIMEOUT' | 'IPC_REMOTE' | 'IPC_GONE',
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 5000;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * One end of the channel. `In` is what this end answers and receives, `Out` what the other end does. Messages are
 * JSON (cluster's default serialisation); handlers may be sync or async; an unknown request is answered with an error.
 */
export class Endpoint<In extends Protocol, Out extends Protocol> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, (body: unknown) => unknown>();
  private readonly listeners = new Map<string, Array<(body: unknown) => void>>();
  private gone = false;

  constructor(
    private readonly channel: Channel,
    private readonly onHandlerError: (op: string, err: unknown) => void = () => undefined,
  ) {
    channel.on('message', (m) => this.receive(m));
    channel.on('disconnect', () => this.close());
  }

  request<K extends keyof Out['requests'] & string>(op: K, body: Out['requests'][K][0], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Out['requests'][K][1]> {
    if (this.gone) return Promise.reject(new IpcError(`${op}: the other process is gone`, 'IPC_GONE'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new IpcError(`${op}: no answer within ${timeoutMs} ms`, 'IPC_TIMEOUT'));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.post({ pgp: 'req', id, op, body });
    });
  }

  emit<K extends keyof Out['events'] & string>(op: K, body: Out['events'][K]): void {
    if (!this.gone) this.post({ pgp: 'ev', op, body });
  }

  handle<K extends keyof In['requests'] & string>(op: K, fn: (body: In['requests'][K][0]) => In['requests'][K][1] | Promise<In['requests'][K][1]>): void {
    this.handlers.set(op, fn as (body: unknown) => unknown);
  }

  on<K extends keyof In['events'] & string>(op: K, fn: (body: In['events'][K]) => void): void {
    const list = this.listeners.get(op) ?? [];
    list.push(fn as (body: unknown) => void);
    this.listeners.set(op, list);
  }

  /** Rejects every request still waiting (the other side exited or disconnected). */
  close(): void {
    if (this.gone) return;
    this.gone = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new IpcError(`request ${id}: the other process is gone`, 'IPC_GONE'));
    }
    this.pending.clear();
  }

  private post(m: Wire): void {
    try {
      this.channel.send(m);
    } catch {
      // The channel closed under us: 'disconnect' follows and rejects what waits.
    }
  }

  private receive(raw: unknown): void {
    const m = raw as Wire;
    if (typeof m !== 'object' || m === null || !('pgp' in m)) return;
    if (m.pgp === 'res') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error !== undefined) p.reject(new IpcError(m.error, 'IPC_REMOTE'));
      else p.resolve(m.body);
      return;
    }
    if (m.pgp === 'ev') {
      for (const fn of this.listeners.get(m.op) ?? []) {
        try {
          fn(m.body);
        } catch (err) {
          this.onHandlerError(m.op, err);
        }
      }
      return;
    }
    if (m.pgp === 'req') void this.answer(m.id, m.op, m.body);
  }

  private async answer(id: number, op: string, body: unknown): Promise<void> {
    const fn = this.handlers.get(op);
    if (!fn) {
      this.post({ pgp: 'res', id, error: `no handler for "${op}"` });
      return;
    }
    try {
      const result = await fn(body);
      this.post({ pgp: 'res', id, body: result === undefined ? null : result });
    } catch (err) {
      this.onHandlerError(op, err);
      this.post({ pgp: 'res', id, error: err instanceof Error ? err.message : String(err) });
    }
  }
}
