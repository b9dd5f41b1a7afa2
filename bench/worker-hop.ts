/**
 * What one main-thread ↔ worker-thread round trip costs on this machine, with nothing else
 * running: the floor under every model execution since ORT sessions live in worker threads
 * (node-host/ort-session.worker.ts). server-bench.ts shows the hop inside compute_infer
 * (simple: ORT runs it in ~20 µs in-process); this isolates it.
 *
 *   node bench/worker-hop.ts [--count 5000] [--bytes 2048]
 *
 * Echoes a message shaped like a run request (an op name plus one tensor buffer), cloned
 * or transferred, and prints round-trip p50/p99 and the time inside the sender's
 * postMessage call (serialising and waking the other thread).
 */
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const { values } = parseArgs({ options: { count: { type: 'string', default: '5000' }, bytes: { type: 'string', default: '2048' } } });
const count = Number(values.count);
const bytes = Number(values.bytes);

// Plain JavaScript, evaluated: the echo must cost nothing beyond the hop itself.
const ECHO = `const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => parentPort.postMessage(m, m.transfer ? [m.data.buffer] : []));`;

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

async function measure(worker: Worker, transfer: boolean, n: number): Promise<{ p50: number; p99: number; postUs: number }> {
  const trips: number[] = [];
  let post = 0;
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(bytes);
    const answered = new Promise((resolve) => worker.once('message', resolve));
    const t0 = performance.now();
    worker.postMessage({ op: 'run', transfer, data }, transfer ? [data.buffer] : []);
    post += performance.now() - t0;
    await answered;
    trips.push((performance.now() - t0) * 1000);
  }
  trips.sort((a, b) => a - b);
  return { p50: pct(trips, 50), p99: pct(trips, 99), postUs: (post / n) * 1000 };
}

const worker = new Worker(ECHO, { eval: true });
try {
  await measure(worker, false, Math.min(1000, count)); // warm-up: JIT, first allocations
  for (const transfer of [false, true]) {
    const r = await measure(worker, transfer, count);
    console.log(`${transfer ? 'transfer' : 'clone   '} ${bytes} B: round trip p50 ${r.p50.toFixed(1)} µs, p99 ${r.p99.toFixed(1)} µs; `
      + `postMessage call ${r.postUs.toFixed(1)} µs (${count} trips)`);
  }
} finally {
  await worker.terminate();
}
