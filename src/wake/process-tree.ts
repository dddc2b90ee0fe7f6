// Reads a local PostgreSQL's process tree (postmaster PID, children, run state) from /proc, or from `ps` where there is no /proc.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** One-letter state as in /proc/PID/stat or ps: R, S, D, T (stopped), t, Z, … */
  state: string;
}

const HAS_PROC = existsSync('/proc/self/stat');

/** The postmaster's PID from the first line of `dataDir/postmaster.pid`, or undefined when there is none. */
export function readPostmasterPid(dataDir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.split('\n', 1)[0]!.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Parses /proc/PID/stat; the command name may hold spaces and parentheses, so fields are read after the last ')'. */
function parseStat(pid: number, text: string): ProcInfo | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(' ');
  const ppid = Number(fields[1]);
  if (!fields[0] || !Number.isInteger(ppid)) return undefined;
  return { pid, ppid, state: fields[0] };
}

function procInfo(pid: number): ProcInfo | undefined {
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Every process via `ps`, for systems without /proc (macOS). */
function psAll(): ProcInfo[] {
  const out = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,stat='], { encoding: 'utf8' });
  const list: ProcInfo[] = [];
  for (const line of out.split('\n')) {
    const [pid, ppid, stat] = line.trim().split(/\s+/);
    if (pid && ppid && stat) list.push({ pid: Number(pid), ppid: Number(ppid), state: stat[0]! });
  }
  return list;
}

/** The process's state and parent, or undefined when it does not exist. */
export function processInfo(pid: number): ProcInfo | undefined {
  if (HAS_PROC) return procInfo(pid);
  return psAll().find((p) => p.pid === pid);
}

/** PIDs whose parent is `ppid`. PostgreSQL forks every backend and worker from the postmaster, so one level is the tree. */
export function childPids(ppid: number): number[] {
  if (!HAS_PROC) return psAll().filter((p) => p.ppid === ppid).map((p) => p.pid);
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const info = procInfo(pid);
    if (info?.ppid === ppid) out.push(pid);
  }
  return out;
}

/** Sends `signal` to each PID, ignoring ones that have exited meanwhile. */
export function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}
