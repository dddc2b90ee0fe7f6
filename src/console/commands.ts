// Parses one console command (PgBouncer's grammar, case-insensitive): SHOW <what>, PAUSE/RESUME [tenant], RELOAD, KILL tenant, SHUTDOWN.
import { ConsoleError } from './console-error.js';

export const SHOW_TOPICS = ['HELP', 'POOLS', 'CLIENTS', 'SERVERS', 'UPSTREAMS', 'STATS', 'TENANTS', 'CONFIG', 'VERSION', 'NODES'] as const;
export type ShowTopic = (typeof SHOW_TOPICS)[number];

export type Command =
  | { kind: 'show'; topic: ShowTopic }
  | { kind: 'pause' | 'resume'; tenant: string | undefined }
  | { kind: 'reload' }
  | { kind: 'kill'; tenant: string }
  | { kind: 'shutdown' };

/** Commands that change something: only `admin` console users may run them. */
export function changesState(c: Command): boolean {
  return c.kind !== 'show';
}

export const USAGE = `SHOW HELP|POOLS|CLIENTS|SERVERS|UPSTREAMS|STATS|TENANTS|CONFIG|VERSION|NODES
PAUSE [<tenant>]
RESUME [<tenant>]
RELOAD
KILL <tenant>
SHUTDOWN`;

const HINT = 'Console commands: SHOW HELP|POOLS|CLIENTS|SERVERS|UPSTREAMS|STATS|TENANTS|CONFIG|VERSION|NODES, PAUSE [tenant], RESUME [tenant], RELOAD, KILL tenant, SHUTDOWN.';

/** A tenant id as typed: bare or double-quoted (quotes keep case, as for SQL identifiers; bare words are lowercased). */
function tenantArg(word: string): string {
  if (word.length >= 2 && word.startsWith('"') && word.endsWith('"')) return word.slice(1, -1).replaceAll('""', '"');
  return word.toLowerCase();
}

/** One statement's text (no trailing semicolon) to a Command; throws ConsoleError 42601 for anything else. */
export function parseCommand(sql: string): Command {
  const words = sql.trim().split(/\s+/);
  const verb = (words[0] ?? '').toUpperCase();
  const args = words.slice(1);
  const syntax = (message: string) => new ConsoleError('42601', message, HINT);
  switch (verb) {
    case 'SHOW': {
      const topic = (args[0] ?? '').toUpperCase();
      if (args.length !== 1 || !(SHOW_TOPICS as readonly string[]).includes(topic)) {
        throw syntax(args.length === 0 ? 'SHOW needs a topic' : `unrecognized SHOW topic "${args.join(' ')}"`);
      }
      return { kind: 'show', topic: topic as ShowTopic };
    }
    case 'PAUSE':
    case 'RESUME':
      if (args.length > 1) throw syntax(`${verb} takes at most one tenant`);
      return { kind: verb === 'PAUSE' ? 'pause' : 'resume', tenant: args[0] === undefined ? undefined : tenantArg(args[0]) };
    case 'RELOAD':
    case 'SHUTDOWN':
      if (args.length > 0) throw syntax(`${verb} takes no argument`);
      return { kind: verb === 'RELOAD' ? 'reload' : 'shutdown' };
    case 'KILL':
      if (args.length !== 1) throw syntax('KILL needs exactly one tenant');
      return { kind: 'kill', tenant: tenantArg(args[0]!) };
    default:
      throw syntax(`unrecognized console command "${sql.trim().slice(0, 80)}"`);
  }
}

/** Splits a simple Query's text into statements at semicolons (console commands hold no quoted semicolons). */
export function splitStatements(sql: string): string[] {
  return sql.split(';').map((s) => s.trim()).filter((s) => s.length > 0);
}
