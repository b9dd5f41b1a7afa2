/**
 * CPU accounting from Linux /proc, to tell *who* used the two cores during a window: the
 * load generator, the server (split by thread: event loop, ORT threads, V8 helpers), and
 * anything else on the machine (colleagues' test runs). Without it a low number cannot be
 * told apart from a contended one. Returns undefined off Linux; the bench then prints no
 * CPU columns.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of /proc's utime/stime (USER_HZ). */
const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time per thread-name group of one process, in ticks. */
type ThreadTicks = Map<string, number>;

/** A reading of the machine and of the watched processes. */
export interface CpuSnapshot {
  atMs: number;
  /** Busy ticks of all cores (user+nice+system+irq+softirq+steal). */
  busy: number;
  procs: Map<string, ThreadTicks>;
}

/** Cores used between two snapshots (1.0 = one core fully busy). */
export interface CpuUsage {
  /** Length of the interval, s. */
  seconds: number;
  /** All cores, every process. */
  total: number;
  /** Per watched process label: total and by thread group. */
  procs: Record<string, { total: number; threads: Record<string, number> }>;
  /** total minus the watched processes: someone else's load. */
  foreign: number;
}

/**
 * Thread names are set by Node (`MainThread`, `V8Worker`, `libuv-worker`, a worker's `name`)
 * and inherited by threads a thread starts, so ORT's intra-op pool threads carry the name of
 * the thread that created the session: `ort dense_mlp:1…` in infermesh's session workers,
 * `MainThread` in the baseline server (told apart from the event loop by tid ≠ pid).
 */
function threadGroup(comm: string, isMain: boolean): string {
  if (isMain) return 'main';
  if (comm.startsWith('ort ') || comm === 'MainThread' || comm === 'node') return 'ort';
  if (comm.startsWith('load gen')) return 'load';
  if (comm === 'V8Worker' || comm.startsWith('DelayedTask')) return 'v8';
  if (comm.startsWith('libuv')) return 'libuv';
  return 'other';
}

function readBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return user + nice + system + irq + softirq + (steal ?? 0);
}

function readThreads(pid: number): ThreadTicks {
  const out: ThreadTicks = new Map();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let s: string;
    try {
      s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between readdir and read
    }
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const fields = s.slice(close + 2).split(' ');
    // Fields after the comm start at field 3 (state); utime and stime are fields 14 and 15.
    const ticks = Number(fields[11]) + Number(fields[12]);
    const g = threadGroup(comm, tid === String(pid));
    out.set(g, (out.get(g) ?? 0) + ticks);
  }
  return out;
}

/** Cores the whole machine keeps busy over `ms` (someone else's load while the bench is idle). */
export async function machineBusy(ms: number): Promise<number | undefined> {
  if (!procAvailable) return undefined;
  const a = readBusy();
  const t = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (readBusy() - a) / TICKS / ((performance.now() - t) / 1000);
}

/**
 * Waits (up to `maxMs`) until the machine is quiet — under `limit` cores busy — before a
 * measurement, since colleagues' test runs share the two cores. Returns the seconds waited
 * and the last reading.
 */
export async function waitForQuiet(limit: number, maxMs: number): Promise<{ waitedS: number; busy: number | undefined }> {
  const t0 = performance.now();
  let busy = await machineBusy(300);
  while (busy !== undefined && busy > limit && performance.now() - t0 < maxMs) busy = await machineBusy(1000);
  return { waitedS: (performance.now() - t0) / 1000, busy };
}

/** Whether /proc accounting works here. */
export const procAvailable = (() => {
  try {
    readBusy();
    return true;
  } catch {
    return false;
  }
})();

/** Reads the machine's busy time and the threads of each watched process. */
export function cpuSnapshot(watch: Record<string, number>): CpuSnapshot | undefined {
  if (!procAvailable) return undefined;
  const procs = new Map<string, ThreadTicks>();
  for (const [label, pid] of Object.entries(watch)) procs.set(label, readThreads(pid));
  return { atMs: performance.now(), busy: readBusy(), procs };
}

/** Cores used between `a` and `b`. Threads that ended in between are missed (none should). */
export function cpuUsage(a: CpuSnapshot | undefined, b: CpuSnapshot | undefined): CpuUsage | undefined {
  if (!a || !b) return undefined;
  const seconds = (b.atMs - a.atMs) / 1000;
  const cores = (ticks: number) => ticks / TICKS / seconds;
  const procs: CpuUsage['procs'] = {};
  let watched = 0;
  for (const [label, after] of b.procs) {
    const before = a.procs.get(label) ?? new Map<string, number>();
    const threads: Record<string, number> = {};
    let total = 0;
    for (const [g, t] of after) {
      const c = cores(t - (before.get(g) ?? 0));
      threads[g] = c;
      total += c;
    }
    procs[label] = { total, threads };
    watched += total;
  }
  const total = cores(b.busy - a.busy);
  return { seconds, total, procs, foreign: Math.max(0, total - watched) };
}
