/**
 * Turns the bench's measurements into the tables and goal ratios it prints (and writes as
 * Markdown): per model, client-side throughput and latency with the CPU split; infermesh's
 * server-side split from the statistics extension; the per-request overhead probe; the
 * load-generator client cost; the three goals of the performance brief.
 */
import { TARGET_LABEL, type CellResult } from './bench-cells.ts';
import type { ClientKind } from './load-driver.ts';
import type { CeilingResult } from './ort-ceiling.ts';
import type { ProbeResult } from './overhead-probe.ts';
import { num, type Table } from './report-table.ts';

export const CEILING_MEANING =
  'Ceiling (a) = onnxruntime-node called in-process on pre-built batches, no HTTP, no JSON, no queue, at its best batch size '
  + '(of 1, 8, 32; simple: 1, 8). It is the most any server around this ORT build can deliver on this machine, and it is the '
  + 'same at every concurrency (it has no clients): its latency columns are the run time of one such batch.';

export const SHARED_CORES_NOTE = (cores: number) =>
  `This machine has ${cores} cores, shared by the load generator (a worker thread of this process), the server under test `
  + '(its event loop and ORT threads) and whatever else runs here: the client is not free as it would be on a separate '
  + 'client machine. "other" is CPU taken by other processes; a cell marked * stayed contended (other > 0.1 core, or '
  + 'throughput spread > 25%) after its reruns.';

/** Client-side table of one model: every target × concurrency. */
export function clientTable(results: CellResult[], model: string, withCpu: boolean): Table {
  const rows = results.filter((r) => r.model === model).map((r) => {
    const cpu = r.cpu;
    const row = [
      `${TARGET_LABEL[r.target]}${r.note ? ` ${r.note}` : ''}${r.noisy ? ' *' : ''}`,
      String(r.concurrency),
      num(r.throughput),
      num(r.p50Us),
      num(r.p99Us),
      r.spreadPct === undefined ? '–' : `${num(r.spreadPct)}%`,
    ];
    if (withCpu) {
      row.push(cpu ? `${num(cpu.bench, 2)} / ${num(cpu.server, 2)} (${num(cpu.serverMain, 2)}+${num(cpu.serverOrt, 2)}) / ${num(cpu.foreign, 2)}` : '–');
    }
    if (r.errors > 0) row[0] += ` (${r.errors} errors: ${r.firstError})`;
    return row;
  });
  const headers = ['row', 'conc', 'infer/s', 'p50 µs', 'p99 µs', 'spread'];
  if (withCpu) headers.push('cores: bench / server (main+ort) / other');
  return { headers, align: ['l', 'r', 'r', 'r', 'r', 'r', 'r'].slice(0, headers.length) as ('l' | 'r')[], rows };
}

/** infermesh's own account of each request (statistics extension deltas over the window). */
export function serverTable(results: CellResult[], model: string): Table {
  const rows = results.filter((r) => r.model === model && r.server).map((r) => {
    const s = r.server!;
    return [
      TARGET_LABEL[r.target], String(r.concurrency), num(s.avgBatch, 1), num(s.requestUs), num(s.overheadUs, 1), num(s.queueUs),
      `${num(s.computeInputUs, 1)} / ${num(s.computeInferUs)} / ${num(s.computeOutputUs, 1)}`,
    ];
  });
  return {
    headers: ['row', 'conc', 'avg batch', 'request µs', 'overhead µs (avg)', 'queue µs', 'compute input / infer / output µs'],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  };
}

/** Every batch size the ceiling tried, per run (before / after the servers). */
export function ceilingTable(runs: (CeilingResult & { when: string })[]): Table {
  return {
    headers: ['run', 'batch', 'items/s', 'run p50 µs', 'run p99 µs', 'cores used', 'other cores'],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: runs.flatMap((c) => c.batches.map((b) => [
      c.when, `${b.batch}${b.batch === c.best.batch ? ' (best)' : ''}`, num(b.itemsPerSec), num(b.runP50Us), num(b.runP99Us),
      num(b.cores, 2), b.foreignCores === undefined ? '–' : num(b.foreignCores, 2),
    ])),
  };
}

/** The per-request probe, one row per wire format. */
export function probeTable(probes: { format: string; result: ProbeResult }[]): Table {
  return {
    headers: ['format', 'samples', 'overhead p50 µs', 'p90', 'p99', 'mean', 'queue p50', 'compute p50', 'server request p50', 'client p50', 'client − server p50'],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: probes.map(({ format, result: p }) => [
      format, String(p.samples), num(p.overheadUs.p50, 1), num(p.overheadUs.p90, 1), num(p.overheadUs.p99, 1), num(p.overheadUs.mean, 1),
      num(p.queueUs.p50, 1), num(p.computeUs.p50, 1), num(p.requestUs.p50, 1), num(p.clientUs.p50), num(p.clientMinusServerUs.p50),
    ]),
  };
}

/** node:http vs fetch as the load generator's client. */
export function clientCostTable(rows: { client: ClientKind; r: CellResult }[]): Table {
  return {
    headers: ['client', 'conc', 'infer/s', 'p50 µs', 'bench CPU µs / request'],
    align: ['l', 'r', 'r', 'r', 'r'],
    rows: rows.map(({ client, r }) => [client === 'http' ? 'node:http Agent' : 'fetch (undici)', String(r.concurrency), num(r.throughput), num(r.p50Us), num(r.clientCpuUsPerRequest, 1)]),
  };
}

/** One goal of the brief with its verdict. */
export interface Goal {
  name: string;
  value: number | undefined;
  unit: string;
  goal: string;
  pass: boolean | undefined;
  detail: string;
}

export function goals(results: CellResult[], probe: ProbeResult | undefined): Goal[] {
  const cell = (model: string, target: string, c: number) => results.find((r) => r.model === model && r.target === target && r.concurrency === c);
  const d = cell('dense_mlp', 'd', 32);
  const a = cell('dense_mlp', 'a', 32);
  const b = cell('dense_mlp', 'b', 32);
  const ratio = (x?: CellResult, y?: CellResult) => (x && y ? x.throughput / y.throughput : undefined);
  const da = ratio(d, a);
  const db = ratio(d, b);
  const simpleAvg = cell('simple', 'd', 1)?.server?.overheadUs;
  const p50 = probe?.overheadUs.p50;
  return [
    {
      name: '(d)/(a) dense_mlp c=32 — infermesh binary vs in-process ceiling', value: da, unit: '×', goal: '≥ 0.9',
      pass: da === undefined ? undefined : da >= 0.9, detail: d && a ? `${num(d.throughput)} / ${num(a.throughput)} infer/s` : 'not measured',
    },
    {
      name: '(d)/(b) dense_mlp c=32 — infermesh binary vs hand-written baseline', value: db, unit: '×', goal: '≥ 3',
      pass: db === undefined ? undefined : db >= 3, detail: d && b ? `${num(d.throughput)} / ${num(b.throughput)} infer/s` : 'not measured',
    },
    {
      name: 'server overhead p50 on simple (per-request probe, binary, c=1)', value: p50, unit: 'µs', goal: '≤ 40 µs',
      pass: p50 === undefined ? undefined : p50 <= 40,
      detail: `statistics average in the (d) c=1 window: ${num(simpleAvg, 1)} µs (an average, not a p50)`,
    },
  ];
}

export function goalLines(gs: Goal[]): string[] {
  return gs.map((g) => {
    const v = g.value === undefined ? 'n/a' : g.unit === '×' ? `${g.value.toFixed(2)}×` : `${g.value.toFixed(1)} µs`;
    const verdict = g.pass === undefined ? 'NOT MEASURED' : g.pass ? 'PASS' : 'FAIL';
    return `${g.name}: ${v} (goal ${g.goal}) ${verdict} — ${g.detail}`;
  });
}
