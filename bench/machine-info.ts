/**
 * What the numbers were measured on, printed with every run: benchmark figures without the
 * machine are not comparable, and on a 2-core VM the core count explains most of them.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  ramGiB: number;
  node: string;
  onnxruntimeNode: string;
  kernel: string;
  /** 1-minute load average when the bench started: > 0.2 means someone else is busy. */
  loadAvg1: number;
}

export function machineInfo(): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpuModel;
  } catch { /* not Linux: os.cpus() is as good */ }
  const require = createRequire(import.meta.url);
  const ortVersion = (require('onnxruntime-node/package.json') as { version: string }).version;
  return {
    cores: availableParallelism(),
    cpuModel,
    ramGiB: totalmem() / 2 ** 30,
    node: process.version,
    onnxruntimeNode: ortVersion,
    kernel: release(),
    loadAvg1: loadavg()[0],
  };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.cores} cores (${m.cpuModel}), ${m.ramGiB.toFixed(1)} GiB RAM, Node ${m.node}, onnxruntime-node ${m.onnxruntimeNode}, `
    + `Linux ${m.kernel}, load average at start ${m.loadAvg1.toFixed(2)}`;
}
