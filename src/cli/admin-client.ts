// What the allowlist and tenants commands share: admin API calls, the exit-code contract, connection flags and table output.
import type { Readable, Writable } from 'node:stream';

/**
 * Exit codes scripts can rely on:
 *   0  success
 *   1  the admin API refused the request (4xx: bad token, unknown tenant, malformed CIDR, conflict)
 *   2  usage error (unknown sub-command, missing argument, bad flag); nothing was sent
 *   3  the admin API could not be reached, timed out, or failed (5xx, e.g. the store is down)
 */
export const EXIT = { OK: 0, REFUSED: 1, USAGE: 2, UNAVAILABLE: 3 } as const;

export interface CommandIo {
  stdout: Writable | NodeJS.WritableStream;
  stderr: Writable | NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** For `--json-body -`; default process.stdin. */
  stdin?: Readable | NodeJS.ReadableStream;
}

/** A failure that ends the command with an exit code and one line on stderr. */
export class CommandError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

export const usageError = (message: string) => new CommandError(EXIT.USAGE, message);

/** Flags every admin command takes. */
/** The options and exit codes every admin command shares, as its usage text ends. */
export const COMMON_USAGE = `options:
  --url URL      admin API (default $PGPORTER_ADMIN_URL, else http://127.0.0.1:9188)
  --token TOKEN  bearer token (default $PGPORTER_ADMIN_TOKEN)
  --json         print the API's JSON instead of a table
exit codes: 0 ok, 1 refused by the API (4xx), 2 usage error, 3 API unreachable or failing (5xx)
`;

export const CONNECTION_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9188';

export class AdminClient {
  private readonly base: string;
  constructor(
    url: string,
    private readonly token: string,
    private readonly timeoutMs = 10_000,
  ) {
    this.base = url.replace(/\/+$/, '');
  }

  /** Resolves from flags, then PGPORTER_ADMIN_URL / PGPORTER_ADMIN_TOKEN. */
  static from(values: { url?: string | undefined; token?: string | undefined }, env: NodeJS.ProcessEnv): AdminClient {
    const url = values.url ?? env.PGPORTER_ADMIN_URL ?? DEFAULT_ADMIN_URL;
    const token = values.token ?? env.PGPORTER_ADMIN_TOKEN;
    if (!token) throw usageError('an admin token is required: --token TOKEN or PGPORTER_ADMIN_TOKEN');
    try {
      new URL(url);
    } catch {
      throw usageError(`--url: "${url}" is not a URL`);
    }
    return new AdminClient(url, token);
  }

  /** The parsed JSON response; a 4xx becomes exit 1, an unreachable server or a 5xx exit 3. */
  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CommandError(EXIT.UNAVAILABLE, `cannot reach the admin API at ${this.base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.ok) return json;
    const e = (json as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
    const what = e ? `${e.message} (HTTP ${res.status} ${e.code}${e.field ? `, field ${e.field}` : ''})` : `HTTP ${res.status}`;
    throw new CommandError(res.status >= 500 ? EXIT.UNAVAILABLE : EXIT.REFUSED, what);
  }
}

/** Left-aligned columns separated by two spaces, with a header row. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** Runs a command body, turning CommandError and parseArgs errors into stderr lines and exit codes. */
export async function runCommand(name: string, usage: string, io: CommandIo, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommandError) {
      io.stderr.write(`pgporter ${name}: ${err.message}\n${err.exitCode === EXIT.USAGE ? usage : ''}`);
      return err.exitCode;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`pgporter ${name}: ${(err as Error).message}\n${usage}`);
      return EXIT.USAGE;
    }
    io.stderr.write(`pgporter ${name}: ${(err as Error).message}\n`);
    return EXIT.UNAVAILABLE;
  }
}

export async function readAll(stream: Readable | NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer | string>) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}
