// The machine and the versions a benchmark ran with, for RESULTS.md: figures mean little without them.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { pgBinDir } from '../test/fixtures/postgres.js';
import { PGBOUNCER } from './targets.js';

export interface Machine {
  cpu: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  node: string;
  postgres: string;
  pgbench: string;
  pgbouncer: string;
  haproxy: string;
}

function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

export function describeMachine(): Machine {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return {
    cpu: model.trim(),
    cores: cpus().length,
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    postgres: firstLine(join(pgBinDir(), 'postgres'), ['--version']),
    pgbench: firstLine('pgbench', ['--version']),
    pgbouncer: firstLine(PGBOUNCER, ['--version']),
    haproxy: firstLine('haproxy', ['-v']).replace(/ - https?:.*$/, ''),
  };
}
