/**
 * CPU time of the two mesh-bench processes at nanosecond resolution, from Linux's
 * `/proc/<pid>/task/<tid>/schedstat` (time on CPU per thread, summed). proc-cpu.ts reads
 * /proc's utime/stime, whose 10 ms ticks are too coarse for windows of a few tens of
 * milliseconds (a batch of 16 MiB transfers over raw TCP). Machine-wide busy time (for
 * "other", someone else's load) still comes in ticks from /proc/stat: accumulate it over
 * several windows. Undefined off Linux.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { procAvailable } from './proc-cpu.ts';

const TICKS_PER_S = 100; // USER_HZ on Linux, as proc-cpu.ts finds it on every platform we run

/** A reading: when, machine busy ticks, ns on CPU per watched process. */
export interface CpuReading { atMs: number; busyTicks: number; ns: Record<string, number> }

/** CPU used between readings, summed over any number of windows. */
export class CpuTally {
  seconds = 0;
  /** Seconds on CPU per watched process. */
  readonly cpuS: Record<string, number> = {};
  /** Busy core-seconds of the whole machine. */
  busyS = 0;

  add(a: CpuReading | undefined, b: CpuReading | undefined): void {
    if (!a || !b) return;
    this.seconds += (b.atMs - a.atMs) / 1000;
    this.busyS += (b.busyTicks - a.busyTicks) / TICKS_PER_S;
    for (const k of Object.keys(b.ns)) this.cpuS[k] = (this.cpuS[k] ?? 0) + (b.ns[k] - (a.ns[k] ?? 0)) / 1e9;
  }

  /** Cores used on average by `label`. */
  cores(label: string): number {
    return (this.cpuS[label] ?? 0) / this.seconds;
  }

  /** Cores used by everyone else (never below 0: ticks and ns disagree a little). */
  foreign(): number {
    const watched = Object.values(this.cpuS).reduce((x, y) => x + y, 0);
    return Math.max(0, (this.busyS - watched) / this.seconds);
  }
}

function busyTicks(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return user + nice + system + irq + softirq + (steal ?? 0);
}

function processNs(pid: number): number {
  let total = 0;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tids) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0]);
    } catch { /* the thread ended in between */ }
  }
  return total;
}

/** Reads the machine and the watched processes; undefined without /proc. */
export function readCpu(watch: Record<string, number>): CpuReading | undefined {
  if (!procAvailable) return undefined;
  const ns: Record<string, number> = {};
  for (const [label, pid] of Object.entries(watch)) ns[label] = processNs(pid);
  return { atMs: performance.now(), busyTicks: busyTicks(), ns };
}
