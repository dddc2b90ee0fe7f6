// CPU time and RSS summed over a process and all its descendants, from /proc, so a pooler that forks workers is counted whole.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const PAGE = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim());

interface Stat {
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks: children that exited and were reaped move into their parent's c-times. */
  ticks: number;
  rssBytes: number;
}

/** Fields of /proc/PID/stat after the command name (which may hold spaces and parentheses). */
function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited meanwhile
  }
  // After ") ": state is field 3, ppid 4, utime 14, stime 15, cutime 16, cstime 17, rss 24 (proc(5)).
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const n = (field: number) => Number(f[field - 3]);
  return { ppid: n(4), ticks: n(14) + n(15) + n(16) + n(17), rssBytes: n(24) * PAGE };
}

/** `root` and every process below it, read fresh each call so workers forked since the last call are included. */
export function treePids(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const s = readStat(pid);
    if (!s) continue;
    const list = children.get(s.ppid);
    if (list) list.push(pid);
    else children.set(s.ppid, [pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}

export interface TreeSample {
  /** Processes counted. */
  pids: number;
  /** user + system CPU of the tree (and of its reaped children), microseconds. */
  cpuMicros: number;
  /** Resident set summed over the tree, bytes (pages shared between processes count once per process). */
  rssBytes: number;
}

export function sampleTree(root: number): TreeSample {
  let ticks = 0;
  let rssBytes = 0;
  let pids = 0;
  for (const pid of treePids(root)) {
    const s = readStat(pid);
    if (!s) continue;
    pids++;
    ticks += s.ticks;
    rssBytes += s.rssBytes;
  }
  return { pids, cpuMicros: (ticks * 1e6) / CLK_TCK, rssBytes };
}

/** CPU microseconds the trees under `roots` used while `fn` ran, each tree re-read at the end. */
export async function cpuDuring<T>(roots: readonly number[], fn: () => Promise<T>): Promise<{ result: T; cpuMicros: number[] }> {
  const before = roots.map((r) => sampleTree(r).cpuMicros);
  const result = await fn();
  return { result, cpuMicros: roots.map((r, i) => sampleTree(r).cpuMicros - before[i]!) };
}
