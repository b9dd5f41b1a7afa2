/**
 * `npm run bench:mesh`: what one mesh hop costs, in one run (docs/PERFORMANCE.md, "Mesh"):
 *
 *   1. latency: a 1 KB FP32 request (256 floats, echoed back) sent to another peer with
 *      `MeshInferClient.infer` vs the same serving function called in-process; c=1,
 *      warm-up, then N requests each, interleaved in blocks; p50/p99/mean and the
 *      difference ("added latency"); c=8 throughput for context;
 *   2. the same with a real InferenceServer (`simple`, onnxruntime-node) on both sides;
 *   3. throughput: a 16 MiB FP32 request (4 Mi floats) answered with 4 bytes, i.e. one
 *      direction, over the mesh vs a raw `node:net` connection on loopback (4-byte length +
 *      the bytes, 1 byte back), c=1, interleaved in blocks; MiB/s and the ratio.
 *
 * The serving peer is a child process (bench/mesh-peer.ts): two event loops as with two hosts,
 * on the same 2 cores. Both peers are production `createMeshNode` nodes over `@libp2p/tcp`
 * on 127.0.0.1 (noise: X25519 + ChaCha20-Poly1305, yamux), the caller uses the production
 * `MeshInferClient` and the peer `handleInfer`. The serving function of 1 and 3 is in memory
 * (bench/mesh-echo.ts), so they measure the mesh, not ORT.
 *
 *   node bench/mesh-bench.ts [--requests 3000] [--warmup 2000] [--real-requests 1000]
 *     [--seconds 2] [--big-mib 16] [--big-reps 20] [--phases hop,real,big,parts]
 *     [--profile DIR] [--markdown FILE] [--json FILE]
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { peerIdFromString } from '@libp2p/peer-id';
import type { PeerId } from '@libp2p/interface';
import { createMeshNode, type MeshNode } from '../mesh/mesh-node.ts';
import { MeshInferClient } from '../mesh/infer-client.ts';
import { decodeMeshInferRequest, encodeMeshInferRequest } from '../protocol/mesh-infer-codec.ts';
import type { InferRequest, InferResponse } from '../protocol/infer.ts';
import type { InferenceServer } from '../core/inference-server.ts';
import { ECHO_MODEL, SINK_MODEL, fp32Request, serveInMemory, simpleRequest, startRealServer } from './mesh-echo.ts';
import { startNode, waitForLine, type Child } from './child-processes.ts';
import { describeMachine, machineInfo } from './machine-info.ts';
import { procAvailable, waitForQuiet } from './proc-cpu.ts';
import { CpuTally, readCpu } from './mesh-cpu.ts';
import { num, renderMarkdown, renderText, type Table } from './report-table.ts';

const HELP = `usage: node bench/mesh-bench.ts [options]   (npm run bench:mesh -- [options])
  --requests N       timed 1 KB requests per row, c=1 (default 3000)
  --warmup N         untimed requests before them, per path (default 2000: the JIT settles late)
  --real-requests N  timed requests per row of the InferenceServer (simple) variant (default 1000)
  --seconds S        window of each c=1 and c=8 throughput cell (default 2)
  --big-mib M        size of the large tensor in MiB (default 16)
  --big-reps N       timed large requests per row (default 20)
  --phases LIST      hop (1 KB, in-memory), real (simple on ORT), big (16 MiB vs raw TCP),
                     parts (single-thread cost of the 16 MiB path's pieces) (default all)
  --profile DIR      CPU profiles of both processes (the peer: whole life; the bench: the
                     measured phases) into DIR; use with --phases big to profile throughput
  --markdown FILE    also write the tables as Markdown
  --json FILE        also write every measurement as JSON`;

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    warmup: { type: 'string', default: '2000' },
    'real-requests': { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '2' },
    'big-mib': { type: 'string', default: '16' },
    'big-reps': { type: 'string', default: '20' },
    phases: { type: 'string', default: 'hop,real,big,parts' },
    profile: { type: 'string' },
    markdown: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const count = (name: keyof typeof args) => {
  const n = Math.round(Number(args[name]));
  if (!(n > 0)) throw new Error(`--${name} must be a positive integer, got '${String(args[name])}'`);
  return n;
};
const REQUESTS = count('requests');
const WARMUP = count('warmup');
const REAL_REQUESTS = count('real-requests');
const WINDOW_MS = Number(args.seconds) * 1000;
const BIG_BYTES = count('big-mib') * 2 ** 20;
const BIG_REPS = count('big-reps');
const phases = new Set(args.phases.split(',').map((s) => s.trim()).filter(Boolean));
for (const p of phases) if (!['hop', 'real', 'big', 'parts'].includes(p)) throw new Error(`unknown phase '${p}' (hop, real, big, parts)`);
/** Interleaving: local and mesh alternate in blocks this long, so drift hits both alike. */
const BLOCK = 100;
const BIG_BLOCK = 5;
/** Cores of foreign load above which a row is marked (as in server-bench). */
const FOREIGN_LIMIT = 0.1;
const MiB = 2 ** 20;

// ---- statistics -------------------------------------------------------------------------------

interface Dist { n: number; p50: number; p99: number; mean: number; min: number; max: number }

function dist(samples: number[]): Dist {
  const s = [...samples].sort((a, b) => a - b);
  const pct = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  return { n: s.length, p50: pct(50), p99: pct(99), mean: s.reduce((a, b) => a + b, 0) / s.length, min: s[0], max: s[s.length - 1] };
}

/** CPU of both processes over a window, per operation. */
interface CpuSplit { client: number; peer: number; foreign: number; clientUsPerOp: number; peerUsPerOp: number }

function cpuSplit(t: CpuTally, ops: number): CpuSplit | undefined {
  if (t.seconds === 0) return undefined;
  return {
    client: t.cores('client'), peer: t.cores('peer'), foreign: t.foreign(),
    clientUsPerOp: ((t.cpuS.client ?? 0) * 1e6) / ops, peerUsPerOp: ((t.cpuS.peer ?? 0) * 1e6) / ops,
  };
}

// ---- the two sides -----------------------------------------------------------------------------

interface Setup {
  child: Child;
  node: MeshNode;
  client: MeshInferClient;
  peer: PeerId;
  rawPort: number;
  localCore?: InferenceServer;
  watch: Record<string, number>;
}

async function setUp(): Promise<Setup> {
  const execArgs = args.profile ? ['--cpu-prof', '--cpu-prof-dir', args.profile, '--cpu-prof-name', 'mesh-peer.cpuprofile'] : [];
  const child = startNode([...execArgs, join(import.meta.dirname, 'mesh-peer.ts'), ...(phases.has('real') ? ['--real'] : [])], 'mesh peer');
  let node: MeshNode | undefined;
  try {
    const ready = await waitForLine(child, /mesh-peer ready (\S+ \d+)/, 'mesh peer');
    const [addr, port] = ready.split(' ');
    node = await createMeshNode({ transports: [tcp()], listen: ['/ip4/127.0.0.1/tcp/0'] });
    await node.start();
    const ma = multiaddr(addr);
    await node.dial(ma);
    const peer = peerIdFromString(ma.getComponents().find((c) => c.name === 'p2p')!.value!);
    const localCore = phases.has('real') ? await startRealServer() : undefined;
    return { child, node, client: new MeshInferClient(node), peer, rawPort: Number(port), localCore, watch: { client: process.pid, peer: child.pid } };
  } catch (e) {
    await node?.stop();
    await child.stop();
    throw e;
  }
}

async function tearDown(s: Setup): Promise<void> {
  s.client.close();
  await s.node.stop();
  await s.localCore?.stop(1_000);
  await s.child.stop();
}

async function quiet(label: string): Promise<void> {
  const q = await waitForQuiet(0.2, 20_000);
  if (q.waitedS > 1) console.log(`      (waited ${num(q.waitedS)} s for a quiet machine before ${label}; ${num(q.busy, 2)} cores busy)`);
}

// ---- 1 and 2: latency, c=1, and c=8 throughput ---------------------------------------------------

type Call = () => Promise<InferResponse>;

interface LatencyRow { label: string; path: 'local' | 'mesh'; us: Dist; cpu?: CpuSplit }
interface ConcRow { label: string; concurrency: number; inferPerS: number; us: Dist; cpu?: CpuSplit; errors: number }

async function timeBlock(call: Call, n: number, out: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    out.push((performance.now() - t0) * 1000);
  }
}

/**
 * c=1: warm-up, then local and mesh alternate in blocks of {@link BLOCK} until each has
 * `n`. CPU is read around the mesh blocks only.
 */
async function latencyPair(local: Call, mesh: Call, n: number, s: Setup): Promise<{ local: Dist; mesh: Dist; cpu?: CpuSplit }> {
  await timeBlock(local, WARMUP, []);
  await timeBlock(mesh, WARMUP, []);
  const l: number[] = [];
  const m: number[] = [];
  const tally = new CpuTally();
  while (m.length < n) {
    const b = Math.min(BLOCK, n - m.length);
    await timeBlock(local, b, l);
    const a = readCpu(s.watch);
    await timeBlock(mesh, b, m);
    tally.add(a, readCpu(s.watch));
  }
  return { local: dist(l), mesh: dist(m), cpu: cpuSplit(tally, n) };
}

/** A closed loop of `concurrency` callers for {@link WINDOW_MS} after a short warm-up. */
async function window(call: Call, concurrency: number, s: Setup): Promise<Omit<ConcRow, 'label'>> {
  const samples: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      const t0 = performance.now();
      try {
        await call();
        if (measuring) samples.push((performance.now() - t0) * 1000);
      } catch {
        if (measuring) errors++;
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await new Promise((r) => setTimeout(r, Math.min(500, WINDOW_MS / 4)));
  const a = readCpu(s.watch);
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const tally = new CpuTally();
  tally.add(a, readCpu(s.watch));
  stop = true;
  await Promise.all(loops);
  return { concurrency, inferPerS: samples.length / seconds, us: dist(samples), cpu: cpuSplit(tally, samples.length), errors };
}

function sameTensors(a: InferRequest, b: InferResponse): boolean {
  if (a.inputs.length !== b.outputs.length) return false;
  return a.inputs.every((t, i) => {
    const o = b.outputs[i];
    const x = t.data as ArrayLike<number>;
    const y = o.data as ArrayLike<number>;
    if (o.name !== t.name || o.datatype !== t.datatype || x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return false;
    return true;
  });
}

const latencyRows: { variant: string; rows: LatencyRow[] }[] = [];
const concRows: ConcRow[] = [];

function latencyLine(label: string, d: Dist): string {
  return `${label.padEnd(44)} p50 ${num(d.p50, 1).padStart(7)} µs  p99 ${num(d.p99, 1).padStart(7)} µs  mean ${num(d.mean, 1).padStart(7)} µs  (${num(d.n)} requests)`;
}

function cpuText(c: CpuSplit | undefined): string {
  return c ? `  cores client ${num(c.client, 2)} peer ${num(c.peer, 2)} other ${num(c.foreign, 2)}; CPU µs/request client ${num(c.clientUsPerOp)} peer ${num(c.peerUsPerOp)}` : '';
}

async function latencyPhase(s: Setup, variant: string, localLabel: string, meshLabel: string, req: InferRequest, local: Call, n: number, check: (r: InferResponse) => boolean): Promise<void> {
  const mesh: Call = () => s.client.infer(s.peer, req);
  const first = await mesh();
  if (!check(first) || !check(await local())) throw new Error(`${variant}: wrong answer from the ${check(first) ? 'local' : 'mesh'} path`);
  await quiet(variant);
  const r = await latencyPair(local, mesh, n, s);
  latencyRows.push({ variant, rows: [{ label: localLabel, path: 'local', us: r.local }, { label: meshLabel, path: 'mesh', us: r.mesh, cpu: r.cpu }] });
  console.log(`      ${latencyLine(localLabel, r.local)}`);
  console.log(`      ${latencyLine(meshLabel, r.mesh)}${cpuText(r.cpu)}`);
  console.log(`      added by the hop: p50 ${num(r.mesh.p50 - r.local.p50, 1)} µs, p99 ${num(r.mesh.p99 - r.local.p99, 1)} µs, mean ${num(r.mesh.mean - r.local.mean, 1)} µs`);
  for (const c of [1, 8]) {
    await quiet(`${variant} c=${c}`);
    const w = await window(mesh, c, s);
    concRows.push({ label: meshLabel, ...w });
    console.log(`      ${meshLabel} c=${c}: ${num(w.inferPerS)} infer/s, p50 ${num(w.us.p50)} µs, p99 ${num(w.us.p99)} µs${w.errors ? `, ${w.errors} errors` : ''}${cpuText(w.cpu)}`);
  }
}

// ---- 3: 16 MiB one way, mesh vs raw TCP -------------------------------------------------------------

interface BigRow { label: string; reps: number; mibPerS: number; ms: Dist; cpu?: CpuSplit }

/** One raw request: 4-byte length, the payload, then wait for the 1-byte answer. */
function rawSender(socket: Socket, payload: Buffer): () => Promise<void> {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  let waiting: (() => void) | undefined;
  socket.on('data', (d: Buffer) => { for (let i = 0; i < d.length; i++) { const w = waiting; waiting = undefined; w?.(); } });
  return () => new Promise<void>((resolve, reject) => {
    waiting = resolve;
    socket.write(header);
    socket.write(payload, (e) => { if (e) reject(e); });
  });
}

async function bigPhase(s: Setup): Promise<BigRow[]> {
  const req = fp32Request(SINK_MODEL, BIG_BYTES / 4);
  const payload = Buffer.from((req.inputs[0].data as Float32Array).buffer);
  const mesh = async () => {
    const r = await s.client.infer(s.peer, req);
    const got = (r.outputs[0].data as Float32Array)[0];
    if (got !== BIG_BYTES) throw new Error(`the peer received ${got} bytes, not ${BIG_BYTES}`);
  };
  const socket = connect({ host: '127.0.0.1', port: s.rawPort, noDelay: true });
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const raw = rawSender(socket, payload);
  try {
    for (let i = 0; i < 2; i++) { await mesh(); await raw(); } // warm-up: JIT, buffers, yamux windows
    await quiet('the 16 MiB transfers');
    const times = { mesh: [] as number[], raw: [] as number[] };
    const tally = { mesh: new CpuTally(), raw: new CpuTally() };
    const run = async (which: 'mesh' | 'raw', n: number) => {
      const a = readCpu(s.watch);
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await (which === 'mesh' ? mesh() : raw());
        times[which].push(performance.now() - t0);
      }
      tally[which].add(a, readCpu(s.watch));
    };
    while (times.mesh.length < BIG_REPS) {
      const b = Math.min(BIG_BLOCK, BIG_REPS - times.mesh.length);
      await run('raw', b);
      await run('mesh', b);
    }
    const row = (which: 'mesh' | 'raw', label: string): BigRow => {
      const totalS = times[which].reduce((a, b) => a + b, 0) / 1000;
      return { label, reps: times[which].length, mibPerS: (times[which].length * BIG_BYTES) / MiB / totalS, ms: dist(times[which]), cpu: cpuSplit(tally[which], times[which].length) };
    };
    return [row('raw', 'raw TCP (node:net, 127.0.0.1)'), row('mesh', 'mesh (MeshInferClient → handleInfer)')];
  } finally {
    socket.destroy();
  }
}

// ---- parts: single-thread cost of the 16 MiB path's pieces -------------------------------------------

interface PartRow { part: string; side: string; ms: number; mibPerS: number }

/**
 * What each piece of the mesh's large-message path costs on one thread, measured in
 * isolation here (no I/O): the protobuf envelope both ways, ChaCha20-Poly1305 as
 * @chainsafe/libp2p-noise does it in Node (node:crypto, one cipher object per noise message of
 * at most 65,535 bytes incl. the 16-byte tag), and one plain copy of the payload (what
 * assembling a frame from chunks costs). Best of 5.
 */
function partsPhase(): PartRow[] {
  const req = fp32Request(SINK_MODEL, BIG_BYTES / 4);
  const best = (f: () => void) => {
    let b = Infinity;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      f();
      b = Math.min(b, performance.now() - t0);
    }
    return b;
  };
  const frame = encodeMeshInferRequest({ request: req });
  const key = randomBytes(32);
  const nonce = Buffer.alloc(12);
  const CHUNK = 65535 - 16;
  const plain = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const sealed: Buffer[] = [];
  const encrypt = () => {
    sealed.length = 0;
    for (let off = 0; off < plain.length; off += CHUNK) {
      const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      const part = plain.subarray(off, off + CHUNK);
      c.setAAD(Buffer.alloc(0), { plaintextLength: part.length });
      sealed.push(Buffer.concat([c.update(part), c.final(), c.getAuthTag()]));
    }
  };
  const decrypt = () => {
    for (const m of sealed) {
      const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      d.setAAD(Buffer.alloc(0), { plaintextLength: m.length - 16 });
      d.setAuthTag(m.subarray(m.length - 16));
      d.update(m.subarray(0, m.length - 16));
      d.final();
    }
  };
  const copy = () => { Buffer.concat(sealed); };
  const rows: [string, string, number][] = [
    ['encode MeshInferRequest (protobuf)', 'caller', best(() => encodeMeshInferRequest({ request: req }))],
    ['encrypt, ChaCha20-Poly1305 per noise message', 'caller', best(encrypt)],
    ['decrypt, ChaCha20-Poly1305 per noise message', 'peer', best(decrypt)],
    ['one copy of the payload (Buffer.concat of the messages)', 'peer', best(copy)],
    ['decode MeshInferRequest (protobuf)', 'peer', best(() => decodeMeshInferRequest(frame))],
  ];
  return rows.map(([part, side, ms]) => ({ part, side, ms, mibPerS: BIG_BYTES / MiB / (ms / 1000) }));
}

// ---- report -------------------------------------------------------------------------------------------

const GOAL_ADDED_P50_US = 1000;
const GOAL_RATIO = 0.5;

function tables(big: BigRow[], parts: PartRow[]): { title: string; caption?: string; table: Table }[] {
  const out: { title: string; caption?: string; table: Table }[] = [];
  const cpuCols = (c: CpuSplit | undefined) => (c ? [`${num(c.client, 2)} / ${num(c.peer, 2)} / ${num(c.foreign, 2)}`, `${num(c.clientUsPerOp)} / ${num(c.peerUsPerOp)}`] : ['–', '–']);
  if (latencyRows.length) {
    const rows: string[][] = [];
    for (const v of latencyRows) {
      const [l, m] = v.rows;
      for (const r of v.rows) rows.push([r.label, num(r.us.n), num(r.us.p50, 1), num(r.us.p99, 1), num(r.us.mean, 1), ...(r.path === 'mesh' ? cpuCols(r.cpu) : ['–', '–'])]);
      rows.push([`added by the hop (${v.variant})`, '', `**${num(m.us.p50 - l.us.p50, 1)}**`, num(m.us.p99 - l.us.p99, 1), num(m.us.mean - l.us.mean, 1), '', '']);
    }
    out.push({
      title: 'One hop vs local, c=1',
      caption: 'Sequential requests, local and mesh interleaved in blocks of 100; "added" = mesh − local of each statistic',
      table: { headers: ['path', 'requests', 'p50 µs', 'p99 µs', 'mean µs', 'cores: client / peer / other', 'CPU µs/request: client / peer'], align: ['l', 'r', 'r', 'r', 'r', 'r', 'r'], rows },
    });
  }
  if (concRows.length) {
    out.push({
      title: 'Mesh throughput by concurrency',
      caption: `Closed loop over one connection, ${WINDOW_MS / 1000} s window per cell`,
      table: {
        headers: ['path', 'conc', 'infer/s', 'p50 µs', 'p99 µs', 'cores: client / peer / other', 'CPU µs/request: client / peer'], align: ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
        rows: concRows.map((r) => [r.label, String(r.concurrency), num(r.inferPerS), num(r.us.p50), num(r.us.p99), ...cpuCols(r.cpu)]),
      },
    });
  }
  if (big.length) {
    const [raw, mesh] = big;
    out.push({
      title: `${BIG_BYTES / MiB} MiB one way, mesh vs raw TCP`,
      caption: `${BIG_BYTES / MiB} MiB FP32 request (${num(BIG_BYTES / 4)} floats) answered with 4 bytes, c=1, interleaved in blocks of ${BIG_BLOCK}; MiB/s = bytes sent / total time`,
      table: {
        headers: ['path', 'requests', 'MiB/s', 'ms p50', 'ms min', 'ms max', 'cores: client / peer / other', 'CPU ms/request: client / peer'], align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
        rows: [
          ...big.map((r) => [r.label, num(r.reps), num(r.mibPerS), num(r.ms.p50, 1), num(r.ms.min, 1), num(r.ms.max, 1),
            r.cpu ? `${num(r.cpu.client, 2)} / ${num(r.cpu.peer, 2)} / ${num(r.cpu.foreign, 2)}` : '–',
            r.cpu ? `${num(r.cpu.clientUsPerOp / 1000, 1)} / ${num(r.cpu.peerUsPerOp / 1000, 1)}` : '–']),
          ['mesh / raw', '', `**${num(mesh.mibPerS / raw.mibPerS, 2)}**`, '', '', '', '', ''],
        ],
      },
    });
  }
  if (parts.length) {
    out.push({
      title: `Pieces of the ${BIG_BYTES / MiB} MiB mesh path, one thread, no I/O`,
      caption: 'Best of 5 in the bench process, each piece by itself (during the transfers, fresh 16 MiB buffers and garbage collection cost more)',
      table: { headers: ['piece', 'runs on', 'ms', 'MiB/s'], align: ['l', 'l', 'r', 'r'], rows: parts.map((p) => [p.part, p.side, num(p.ms, 1), num(p.mibPerS)]) },
    });
  }
  return out;
}

function goalLines(big: BigRow[]): string[] {
  const lines: string[] = [];
  const hop = latencyRows.find((v) => v.variant === 'in-memory echo, 1 KB');
  if (hop) {
    const added = hop.rows[1].us.p50 - hop.rows[0].us.p50;
    lines.push(`added latency of one hop, 1 KB, p50 ≤ ${GOAL_ADDED_P50_US} µs: ${num(added, 1)} µs → ${added <= GOAL_ADDED_P50_US ? 'PASS' : 'FAIL'}`);
  }
  if (big.length) {
    const ratio = big[1].mibPerS / big[0].mibPerS;
    lines.push(`${BIG_BYTES / MiB} MiB throughput, mesh / raw TCP ≥ ${GOAL_RATIO}: ${num(big[1].mibPerS)} / ${num(big[0].mibPerS)} MiB/s = ${num(ratio, 2)} → ${ratio >= GOAL_RATIO ? 'PASS' : 'FAIL'}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  const command = `node bench/mesh-bench.ts ${process.argv.slice(2).join(' ')}`.trim();
  console.log(`infermesh mesh benchmark — ${describeMachine(machine)}`);
  console.log('two mesh nodes over @libp2p/tcp on 127.0.0.1 (noise ChaCha20-Poly1305, yamux), the serving one in a child process');
  if (!procAvailable) console.log('(no /proc here: CPU split and contention checks are off)');
  if (args.profile) mkdirSync(args.profile, { recursive: true });
  const s = await setUp();
  const session = args.profile ? new Session() : undefined;
  let big: BigRow[] = [];
  let parts: PartRow[] = [];
  try {
    console.log(`      peer pid ${s.child.pid} connected; ${s.node.connectedPeers().length} connection(s)`);
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    const phaseCount = phases.size;
    let phaseNo = 0;
    const step = (t: string) => console.log(`[${++phaseNo}/${phaseCount}] ${t}`);
    if (phases.has('hop')) {
      step(`one hop, 1 KB FP32 (256 floats) echoed, in-memory serving function: ${num(WARMUP)} warm-up + ${num(REQUESTS)} timed requests per path, then c=1 and c=8 windows`);
      const req = fp32Request(ECHO_MODEL, 256);
      await latencyPhase(s, 'in-memory echo, 1 KB', 'local: serveInMemory(req), 1 KB echo', 'mesh: client.infer(B, req), 1 KB echo', req,
        () => serveInMemory(req), REQUESTS, (r) => sameTensors(req, r));
    }
    if (phases.has('real')) {
      step(`one hop, InferenceServer with simple (onnxruntime-node, 2 × INT32[1,16] in and out): ${num(WARMUP)} warm-up + ${num(REAL_REQUESTS)} timed per path`);
      const req = simpleRequest();
      const ok = (r: InferResponse) => (r.outputs.find((o) => o.name === 'OUTPUT0')?.data as Int32Array | undefined)?.[15] === 16;
      await latencyPhase(s, 'InferenceServer, simple', 'local: core.infer(req), simple', 'mesh: client.infer(B, req), simple', req,
        () => s.localCore!.infer(req), REAL_REQUESTS, ok);
    }
    if (phases.has('big')) {
      step(`${BIG_BYTES / MiB} MiB one way: 2 warm-up + ${BIG_REPS} timed requests per path, raw TCP and mesh interleaved`);
      big = await bigPhase(s);
      for (const r of big) console.log(`      ${r.label.padEnd(40)} ${num(r.mibPerS).padStart(6)} MiB/s  per request p50 ${num(r.ms.p50, 1)} ms (min ${num(r.ms.min, 1)}, max ${num(r.ms.max, 1)})${cpuText(r.cpu).replace(/CPU µs\/request client (\S+) peer (\S+)/, 'CPU µs/request client $1 peer $2')}`);
      console.log(`      mesh / raw = ${num(big[1].mibPerS / big[0].mibPerS, 2)}`);
    }
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(join(args.profile!, 'mesh-bench.cpuprofile'), JSON.stringify(profile));
      session.disconnect();
    }
    if (phases.has('parts')) {
      step(`pieces of the ${BIG_BYTES / MiB} MiB path on one thread (best of 5)`);
      parts = partsPhase();
      for (const p of parts) console.log(`      ${p.part.padEnd(58)} ${p.side.padEnd(6)} ${num(p.ms, 1).padStart(7)} ms  ${num(p.mibPerS).padStart(6)} MiB/s`);
    }
  } finally {
    await tearDown(s);
  }

  const text: string[] = [];
  const md: string[] = ['# infermesh mesh benchmark', '', `Machine: ${describeMachine(machine)}.`, '', `Command: \`${command}\``];
  for (const t of tables(big, parts)) {
    text.push('', `== ${t.title} ==`);
    md.push('', `## ${t.title}`);
    if (t.caption) { text.push(t.caption); md.push('', t.caption); }
    text.push(renderText({ ...t.table, rows: t.table.rows.map((r) => r.map((c) => c.replace(/\*\*/g, ''))) }));
    md.push('', renderMarkdown(t.table));
  }
  const goals = goalLines(big);
  text.push('', '== Goals ==', ...goals);
  md.push('', '## Goals', '', ...goals.map((g) => `- ${g}`));
  const marked = [...latencyRows.flatMap((v) => v.rows.map((r) => r.cpu)), ...concRows.map((r) => r.cpu), ...big.map((r) => r.cpu)]
    .filter((c) => c !== undefined && c.foreign > FOREIGN_LIMIT).length;
  if (marked) text.push(`(${marked} measurement(s) saw more than ${FOREIGN_LIMIT} cores of foreign load: see "other")`);
  console.log(text.join('\n'));
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (args.markdown) writeFileSync(args.markdown, md.join('\n') + '\n');
  if (args.json) writeFileSync(args.json, JSON.stringify({ machine, command, latency: latencyRows, concurrency: concRows, big, parts, goals }, null, 2) + '\n');
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exitCode = 1;
});
