/**
 * Child processes of the bench (the servers under test and the ceiling probe), started so
 * that none outlives the bench: every child is tracked, stopped with SIGTERM then SIGKILL
 * when its phase ends, and killed at once if the bench exits, is interrupted (Ctrl-C,
 * SIGTERM) or fails.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

const children = new Set<ChildProcess>();

function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping ${children.size} child process(es)\n`);
    killAll();
    process.exit(130);
  });
}

/** A started child with its output so far. */
export interface Child {
  proc: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `node <args>` (same Node as the bench) with piped output; with `cpus` (a taskset
 * list such as "1"), confined to those CPUs — Linux, `taskset` execs node, so the pid is node's.
 */
export function startNode(args: string[], label: string, cpus?: string): Child {
  const proc = cpus === undefined
    ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('taskset', ['-c', cpus, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => { children.delete(proc); resolve(code ?? signal ?? -1); });
    proc.once('error', (e) => { children.delete(proc); err += `\nspawn failed: ${e.message}`; resolve(-1); });
  });
  if (proc.pid === undefined) throw new Error(`${label}: could not start ${args.join(' ')}`);
  const stop = async (graceMs = 5_000) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { proc, pid: proc.pid, stdout: () => out, stderr: () => err, exited, stop };
}

/** Confines every thread of this process (and threads it starts later) to `cpus`. */
export function pinSelf(cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
}

/** Waits until `pattern` appears on the child's stderr; returns its first capture group. */
export function waitForLine(child: Child, pattern: RegExp, label: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(child.stderr());
      if (!m) return;
      done();
      resolve(m[1]);
    };
    const timer = setTimeout(() => { done(); reject(new Error(`${label} did not start within ${timeoutMs} ms:\n${child.stderr()}`)); }, timeoutMs);
    const onExit = (code: number | string) => { done(); reject(new Error(`${label} exited (${code}) before it was ready:\n${child.stderr()}`)); };
    const done = () => { clearTimeout(timer); child.proc.stderr!.off('data', check); };
    child.proc.stderr!.on('data', check);
    void child.exited.then(onExit);
    check();
  });
}
