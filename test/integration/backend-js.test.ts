/**
 * The JavaScript backend on a real server (HTTP on 127.0.0.1, real onnxruntime-node): the
 * examples (text_normalize in TypeScript, vad_wav calling silero_vad through BLS), a slow
 * model that does not block the event loop, per-request and per-execution errors, a model
 * that fails to initialise, a worker that crashes, a model that never returns, and gRPC.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { liveJsWorkerCount } from '../../node-host/js-model-client.ts';
import { createGrpcClient, expectGrpcError, grpcStatus, type GrpcClient } from '../support/grpc-client.ts';
import {
  asReadFromPcm16, maxAbsDiff, testSignal, texts, vadByHand, wavPcm16, writeModel, xyConfig,
} from '../support/js-model-fixtures.ts';
import { EXAMPLES, startTestServer, type TestServer } from '../support/test-server.ts';

/** Busy for `busy_ms` on its own thread (a default-export class, in an .mjs file); writes a file at finalize. */
const SLOW = `
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
export default class Slow {
  initialize(args) { this.ms = Number(args.model_config.parameters.busy_ms.string_value); this.args = args; }
  execute(requests) {
    const end = performance.now() + this.ms;
    while (performance.now() < end) { /* a model that never yields */ }
    return requests.map((r) => ({ outputs: [{ name: 'Y', shape: r.input('X').shape, data: r.input('X').data.map((v) => v * 2) }] }));
  }
  finalize() { writeFileSync(join(this.args.model_repository, 'finalized-' + this.args.model_instance_name), 'yes'); }
}
`;

/** Errors of every kind; CommonJS (a .js file outside any package: Node reads it as CommonJS). */
const FAIL = `
module.exports = {
  async execute(requests, { infer }) {
    const out = [];
    for (const r of requests) {
      const x = r.input('X').data[0];
      if (x === 13) throw new Error('unlucky number 13');
      if (x === 99) await infer({ model_name: 'no_such_model', inputs: [{ name: 'X', data: new Float32Array([1]) }] });
      if (x === 98) await infer({ model_name: 'js_slow', inputs: [{ name: 'X', shape: [1], data: new Float32Array([1]) }], timeout_ms: 50 });
      if (x < 0) out.push({ error: 'negative input' });
      else if (x === 7) out.push({ error: { code: 'INVALID_ARG', message: 'seven is not allowed' } });
      else if (x === 8) out.push({ outputs: [{ name: 'Y', shape: [1, 2], data: [1, 2] }, { name: 'BATCH', data: [0] }] });
      else out.push({ outputs: { Y: { shape: [1, 1], data: [x + 1] }, BATCH: { shape: [1, 1], data: [requests.length] } } });
    }
    return out;
  },
};
`;

/** initialize throws (a TypeScript model). */
const INIT_FAIL = `
export function initialize(args: { model_name: string }): void {
  throw new Error(\`vocabulary file vocab.txt is missing for \${args.model_name}\`);
}
export function execute(requests: unknown[]): unknown[] { return requests.map(() => ({ outputs: [] })); }
`;

/** X = 1: the worker dies of an uncaught exception while the request waits. */
const CRASH = `
export async function execute(requests) {
  if (requests[0].input('X').data[0] === 1) {
    setImmediate(() => { throw new Error('boom'); });
    return new Promise(() => {});
  }
  return requests.map((r) => ({ outputs: [{ name: 'Y', data: r.input('X').data }] }));
}
`;

/** Crashes on every call; its second initialize fails when X asked for that (a counter file in its folder). */
const CRASH_ALWAYS = `
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
export function initialize(args) {
  const marker = join(args.model_repository, 'fail-next-initialize');
  if (existsSync(marker)) throw new Error('cannot open the tokenizer after a crash');
}
export async function execute(requests) {
  setImmediate(() => { throw new Error('crash ' + requests[0].input('X').data[0]); });
  return new Promise(() => {});
}
`;

/** X = 1: never returns (a promise that never settles); X = 2: never yields (an endless loop). */
const HANG = `
export async function execute(requests) {
  const x = requests[0].input('X').data[0];
  if (x === 1) await new Promise(() => {});
  if (x === 2) for (;;) { /* stuck */ }
  return requests.map((r) => ({ outputs: [{ name: 'Y', data: r.input('X').data }] }));
}
`;

/** Answers with its initialize args as JSON. */
const ARGS = `
let seen;
export function initialize(args) { seen = { ...args, infer: typeof args.infer, log: typeof args.log.info }; args.log.info('args model ready'); }
export function execute(requests) { return requests.map(() => ({ outputs: [{ name: 'ARGS', shape: [1], data: [JSON.stringify(seen)] }] })); }
`;

let repo: string;
let s: TestServer;
let workersBefore: number;
beforeAll(async () => {
  workersBefore = liveJsWorkerCount();
  repo = mkdtempSync(join(tmpdir(), 'infermesh-js-'));
  for (const m of ['simple', 'silero_vad', 'text_normalize', 'vad_wav']) cpSync(join(EXAMPLES, m), join(repo, m), { recursive: true });
  // A lower threshold, so the test signal gives segments (the model reads it in initialize).
  const vad = join(repo, 'vad_wav', 'config.pbtxt');
  writeFileSync(vad, readFileSync(vad, 'utf8').replace('string_value: "0.5"', 'string_value: "0.1"'));
  writeModel(repo, 'js_slow', xyConfig({ parameters: { busy_ms: '200' }, count: 2 }), { 'model.mjs': SLOW });
  writeModel(repo, 'js_fail', xyConfig({
    maxBatch: 8, outputs: ', { name: "BATCH" data_type: TYPE_INT32 dims: [ 1 ] }',
    extra: 'dynamic_batching { max_queue_delay_microseconds: 300000 }\n',
  }), { 'model.js': FAIL });
  writeModel(repo, 'js_init_fail', xyConfig(), { 'model.ts': INIT_FAIL });
  writeModel(repo, 'js_no_io', 'backend: "javascript"\nmax_batch_size: 0\n', { 'model.js': 'export function execute() { return []; }' });
  writeModel(repo, 'js_no_execute', xyConfig(), { 'model.mjs': 'export function initialize() {}' });
  writeModel(repo, 'js_no_file', xyConfig(), { 'notes.txt': 'the model file is missing' });
  writeModel(repo, 'js_syntax', xyConfig(), { 'model.mjs': 'export function execute(r) {\n  return r.map((x) => ({ outputs: [] });\n}\n' });
  writeModel(repo, 'js_crash', xyConfig(), { 'model.mjs': CRASH });
  writeModel(repo, 'js_crash_always', xyConfig(), { 'model.mjs': CRASH_ALWAYS });
  writeModel(repo, 'js_crash_reinit', xyConfig(), { 'model.mjs': CRASH_ALWAYS });
  writeModel(repo, 'js_hang', xyConfig({ parameters: { execute_timeout_ms: '3000', cancel_grace_ms: '200' } }), { 'model.mjs': HANG });
  writeModel(repo, 'js_args', `backend: "js"\nmax_batch_size: 0\ninput [ { name: "X" data_type: TYPE_FP32 dims: [ 1 ] } ]\noutput [ { name: "ARGS" data_type: TYPE_STRING dims: [ 1 ] } ]\n`, { 'model.mjs': ARGS });
  s = await startTestServer({ repositories: [repo] });
});
afterAll(async () => {
  await s?.stop();
  rmSync(repo, { recursive: true, force: true });
});

const x = (v: number, batch = false) => ({
  inputs: [{ name: 'X', datatype: 'FP32', shape: batch ? [1, 1] : [1], data: [v] }],
});
const post = (model: string, body: unknown, signal?: AbortSignal) => fetch(`${s.client.base}/v2/models/${model}/infer`, {
  method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' }, signal,
});
async function pollUntil(cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
const answer = async (res: Response) => ({ status: res.status, json: await res.json() as { error?: string; outputs?: { name: string; data: unknown[] }[] } });

describe('JS models over HTTP', () => {
  test('text_normalize (TypeScript): BYTES in and out, JSON and binary', async () => {
    const r = await s.client.post('/v2/models/text_normalize/infer', {
      inputs: [{ name: 'TEXT', datatype: 'BYTES', shape: [3, 1], data: ['  Hello   WORLD ', 'Ｆｕｌｌ\twidth  ｔｅｘｔ', ''] }],
    });
    expect(r.status).toBe(200);
    const out = Object.fromEntries((r.json as { outputs: { name: string; datatype: string; shape: number[]; data: unknown[] }[] }).outputs.map((o) => [o.name, o]));
    expect(out.NORMALIZED).toEqual({ name: 'NORMALIZED', datatype: 'BYTES', shape: [3, 1], data: ['hello world', 'full width text', ''] });
    expect(out.WORDS).toEqual({ name: 'WORDS', datatype: 'INT32', shape: [3, 1], data: [2, 3, 0] });

    const bin = await s.client.infer({
      modelName: 'text_normalize', parameters: {},
      inputs: [{ name: 'TEXT', datatype: 'BYTES', shape: [1, 1], data: [new TextEncoder().encode('Ünïcödé  ÀND Spaces')] }],
      outputs: [{ name: 'NORMALIZED' }],
    }, { binaryInputs: true, binaryOutputs: true });
    expect(bin.outputs.map((o) => o.name)).toEqual(['NORMALIZED']);
    expect(texts(bin.outputs[0].data)).toEqual(['ünïcödé ànd spaces']);
    const meta = (await s.client.get('/v2/models/text_normalize')).json;
    expect(meta).toMatchObject({ name: 'text_normalize', platform: 'javascript', inputs: [{ name: 'TEXT', datatype: 'BYTES', shape: [-1, 1] }] });
    const config = (await s.client.get('/v2/models/text_normalize/config')).json as Record<string, unknown>;
    expect(config).toMatchObject({ backend: 'javascript', default_model_filename: 'model.ts', max_batch_size: 8 });
  });

  test('vad_wav: WAV → silero_vad through BLS, frame by frame, equals running silero_vad directly', async () => {
    const rate = 16000;
    const signal = testSignal(1.5, rate);
    const wav = wavPcm16(signal, rate);
    const before = ((await s.client.get('/v2/models/silero_vad/stats')).json as { model_stats: { inference_count: number }[] }).model_stats[0].inference_count;
    const r = await s.client.infer({ modelName: 'vad_wav', parameters: {}, inputs: [{ name: 'WAV', datatype: 'BYTES', shape: [1], data: [wav] }] }, { binaryInputs: true, binaryOutputs: true });
    const out = Object.fromEntries(r.outputs.map((o) => [o.name, o]));
    const probs = out.PROBABILITIES.data as Float32Array;
    expect(out.PROBABILITIES.shape).toEqual([Math.floor(signal.length / 512)]);
    const byHand = await vadByHand(s.client, asReadFromPcm16(signal), rate);
    expect(maxAbsDiff(probs, byHand)).toBeLessThan(1e-6);
    // Every frame was one silero_vad execution (the BLS calls are real requests of that model).
    const after = ((await s.client.get('/v2/models/silero_vad/stats')).json as { model_stats: { inference_count: number }[] }).model_stats[0].inference_count;
    expect(after - before).toBe(2 * probs.length);
    // Post-processing: the voiced middle third is speech at threshold 0.1, the quiet ends are not.
    const segments = JSON.parse(texts(out.SEGMENTS.data)[0]) as { start: number; end: number }[];
    expect(segments.length).toBeGreaterThan(0);
    for (const seg of segments) {
      expect(seg.start).toBeGreaterThanOrEqual(0.3);
      expect(seg.end).toBeLessThanOrEqual(1.5);
      expect(seg.end).toBeGreaterThan(seg.start);
    }
    expect(Math.max(...byHand.slice(Math.round(0.5 * rate / 512), Math.round(1.0 * rate / 512)))).toBeGreaterThan(0.1);
  });

  test('vad_wav: a file that is not a WAV fails its request with INVALID_ARG; the model keeps serving', async () => {
    const bad = await answer(await post('vad_wav', { inputs: [{ name: 'WAV', datatype: 'BYTES', shape: [1], data: ['not a wav'] }] }));
    expect(bad).toEqual({ status: 400, json: { error: "model 'vad_wav' version 1: WAV: not a RIFF/WAVE file" } });
    const rate44k = wavPcm16(new Float32Array(100), 44100);
    const wrongRate = await s.client.inferRaw({ modelName: 'vad_wav', parameters: {}, inputs: [{ name: 'WAV', datatype: 'BYTES', shape: [1], data: [rate44k] }] }, { binaryInputs: true });
    expect(wrongRate.status).toBe(400);
    expect(wrongRate.text).toContain('sample rate 44100 Hz; resample to 16000 or 8000 Hz');
  });

  test('a client that goes away stops the BLS calls of its request (request.signal reaches infer)', async () => {
    const count = async () => ((await s.client.get('/v2/models/silero_vad/stats')).json as { model_stats: { inference_count: number }[] }).model_stats[0].inference_count;
    const frames = Math.floor(60 * 16000 / 512);
    const before = await count();
    const controller = new AbortController();
    const wav = wavPcm16(testSignal(60, 16000), 16000);
    // Binary tensor extension (a WAV is not UTF-8 text), with fetch so it can be aborted.
    const header = JSON.stringify({ inputs: [{ name: 'WAV', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: wav.length + 4 } }] });
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, wav.length, true);
    const body = new Uint8Array([...new TextEncoder().encode(header), ...len, ...wav]);
    const req = fetch(`${s.client.base}/v2/models/vad_wav/infer`, {
      method: 'POST', body, signal: controller.signal, headers: { 'Inference-Header-Content-Length': String(new TextEncoder().encode(header).length) },
    }).catch((e: Error) => e.name);
    await pollUntil(async () => (await count()) > before + 20);
    controller.abort();
    expect(await req).toBe('AbortError');
    await new Promise((r) => setTimeout(r, 300));
    const stopped = await count();
    await new Promise((r) => setTimeout(r, 300));
    expect(await count()).toBe(stopped);
    expect(stopped - before).toBeLessThan(frames);
  });

  test('initialize gets Triton-style args: config, names, kind, repository path, infer and log', async () => {
    const r = await answer(await post('js_args', x(1)));
    expect(r.status).toBe(200);
    const args = JSON.parse(r.json.outputs![0].data[0] as string);
    expect(args).toMatchObject({
      model_name: 'js_args', model_version: '1', model_instance_kind: 'KIND_CPU', model_instance_name: 'js_args_0',
      model_instance_device_id: 0, model_repository: join(repo, 'js_args'), infer: 'function', log: 'function',
      model_config: { name: 'js_args', backend: 'js', max_batch_size: 0, default_model_filename: 'model.mjs' },
    });
  });
});

describe('a slow JS model runs on its own thread', () => {
  test('200 ms of busy JS does not block the event loop: another model answers meanwhile', async () => {
    const delay = monitorEventLoopDelay({ resolution: 5 });
    const t0 = performance.now();
    delay.enable();
    const slow = post('js_slow', x(21)).then(async (res) => ({ ...(await answer(res)), at: performance.now() - t0 }));
    await new Promise((r) => setTimeout(r, 20));
    const quick: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await s.client.post('/v2/models/simple/infer', {
        inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: Array(16).fill(i) }, { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: Array(16).fill(1) }],
      });
      expect(r.status).toBe(200);
      quick.push(performance.now() - t0);
    }
    const done = await slow;
    delay.disable();
    expect(done.status).toBe(200);
    expect(done.json.outputs![0].data).toEqual([42]);
    // The slow model really computed for 200 ms, and all five other answers came before it.
    expect(done.at).toBeGreaterThanOrEqual(200);
    expect(Math.max(...quick)).toBeLessThan(done.at);
    // This process serves HTTP: its event loop never stalled anywhere near the 200 ms.
    expect(delay.max / 1e6).toBeLessThan(100);
  });

  test('instance_group count 2 runs two executions at once, each on its own worker', async () => {
    const t0 = performance.now();
    const both = await Promise.all([post('js_slow', x(1)), post('js_slow', x(2))].map((p) => p.then(answer)));
    const ms = performance.now() - t0;
    expect(both.map((b) => b.json.outputs![0].data[0])).toEqual([2, 4]);
    // Two in sequence would take ≥ 400 ms; on two shared cores allow a margin.
    expect(ms).toBeLessThan(380);
  });
});

describe('errors', () => {
  test('a response { error } fails only its request of a batch; the others get their outputs', async () => {
    const results = await Promise.all([1, -1, 2].map((v) => post('js_fail', x(v, true)).then(answer)));
    expect(results[0]).toMatchObject({ status: 200 });
    expect(results[2]).toMatchObject({ status: 200 });
    const out = (r: typeof results[0], name: string) => r.json.outputs!.find((o) => o.name === name)!.data[0];
    expect([out(results[0], 'Y'), out(results[2], 'Y')]).toEqual([2, 3]);
    // All three went to one execute() call (the batcher waited for them).
    expect([out(results[0], 'BATCH'), out(results[2], 'BATCH')]).toEqual([3, 3]);
    expect(results[1]).toEqual({ status: 500, json: { error: "model 'js_fail' version 1: response 1: negative input" } });
  });

  test('execute throws: that execution fails INTERNAL with the message, the worker stays and serves the next request', async () => {
    const r = await answer(await post('js_fail', x(13, true)));
    expect(r).toEqual({ status: 500, json: { error: "model 'js_fail' version 1: execute failed: unlucky number 13" } });
    const next = await answer(await post('js_fail', x(5, true)));
    expect(next.status).toBe(200);
    expect(next.json.outputs!.find((o) => o.name === 'Y')!.data).toEqual([6]);
  });

  test('an error with a code keeps it; a wrong output shape and a failed BLS call are reported', async () => {
    expect(await answer(await post('js_fail', x(7, true)))).toEqual({ status: 400, json: { error: "model 'js_fail' version 1: seven is not allowed" } });
    const shape = await answer(await post('js_fail', x(8, true)));
    expect(shape.status).toBe(500);
    expect(shape.json.error).toBe("model 'js_fail' version 1: output 'Y': shape [1,2] does not fit the config, which declares [1,1] (batch size first) (-1: any size)");
    const bls = await answer(await post('js_fail', x(99, true)));
    expect(bls).toEqual({ status: 404, json: { error: "model 'js_fail' version 1: execute failed: Request for unknown model: 'no_such_model' is not found" } });
    const late = await answer(await post('js_fail', x(98, true)));
    expect(late).toEqual({ status: 504, json: { error: "model 'js_fail' version 1: execute failed: BLS call to model 'js_slow' did not finish within timeout_ms (50 ms)" } });
  });

  test('initialize throws, no inputs declared, no execute: UNAVAILABLE with the reason in the repository index', async () => {
    const index = (await s.client.post('/v2/repository/index')).json as { name: string; state?: string; reason?: string }[];
    const row = (n: string) => index.find((r) => r.name === n);
    expect(row('js_init_fail')).toEqual({ name: 'js_init_fail', version: '1', state: 'UNAVAILABLE',
      reason: "failed to load 'js_init_fail' version 1: javascript: initialize failed: vocabulary file vocab.txt is missing for js_init_fail" });
    expect(row('js_no_io')?.state).toBe('UNAVAILABLE');
    expect(row('js_no_io')?.reason).toContain("config.pbtxt of 'js_no_io' has no inputs; a JavaScript model declares its tensors in config.pbtxt");
    expect(row('js_no_execute')?.reason).toContain("failed to load 'js_no_execute' version 1: javascript: model.mjs exports no execute function");
    expect(row('js_no_file')?.reason).toBe("model 'js_no_file' version 1: expected model file 'js_no_file/1/model.js' or "
      + "'js_no_file/1/model.mjs' or 'js_no_file/1/model.ts' but found notes.txt; put the model there or set default_model_filename in config.pbtxt");
    expect(row('js_syntax')?.reason).toBe(`failed to load 'js_syntax' version 1: javascript: could not import model.mjs: SyntaxError at ${join(repo, 'js_syntax', '1', 'model.mjs')}:2: missing ) after argument list`);
    expect((await s.client.get('/v2/models/js_init_fail/ready')).status).not.toBe(200);
  });

  test("a load request's file overrides cannot bring JS code: only a repository on disk can", async () => {
    const empty = mkdtempSync(join(tmpdir(), 'infermesh-js-empty-'));
    const explicit = await startTestServer({ repositories: [empty], controlMode: 'explicit', grpcPort: undefined });
    try {
      const config = JSON.stringify({ backend: 'javascript', max_batch_size: 0, input: [{ name: 'X', data_type: 'TYPE_FP32', dims: [1] }], output: [{ name: 'Y', data_type: 'TYPE_FP32', dims: [1] }] });
      const code = Buffer.from('export function execute(r) { return r.map(() => ({ outputs: [] })); }').toString('base64');
      const r = await explicit.client.post('/v2/repository/models/uploaded/load', { parameters: { config, 'file:1/model.mjs': code } });
      expect(r.status).toBe(400);
      expect((r.json as { error: string }).error).toContain("model.mjs is not on disk: JavaScript models load only from a model repository directory, not from a load request's file overrides");
    } finally {
      await explicit.stop();
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test('a worker that crashes: its request fails UNAVAILABLE, a fresh worker serves the next one', async () => {
    const r = await answer(await post('js_crash', x(1)));
    expect(r.status).toBe(503);
    expect(r.json.error).toBe("model 'js_crash' version 1: its JavaScript worker crashed: boom");
    const next = await answer(await post('js_crash', x(3)));
    expect(next).toMatchObject({ status: 200, json: { outputs: [{ name: 'Y', data: [3] }] } });
  });

  test('a worker that keeps crashing is restarted 3 times, then the instance stays UNAVAILABLE', async () => {
    for (const v of [1, 2, 3, 4]) {
      const r = await answer(await post('js_crash_always', x(v)));
      expect(r).toEqual({ status: 503, json: { error: `model 'js_crash_always' version 1: its JavaScript worker crashed: crash ${v}` } });
    }
    const down = await answer(await post('js_crash_always', x(5)));
    expect(down.status).toBe(503);
    expect(down.json.error).toBe("model 'js_crash_always' version 1: its JavaScript worker crashed: crash 4, after 3 restarts in a row "
      + 'without a successful execution; the instance is out of service until the model is reloaded');
  });

  test('a crashed worker whose replacement fails to initialise: UNAVAILABLE with both reasons', async () => {
    writeFileSync(join(repo, 'js_crash_reinit', 'fail-next-initialize'), '');
    expect((await answer(await post('js_crash_reinit', x(1)))).status).toBe(503);
    const r = await answer(await post('js_crash_reinit', x(2)));
    expect(r).toEqual({ status: 503, json: { error: "model 'js_crash_reinit' version 1: its JavaScript worker crashed: crash 1; a fresh one failed to start: initialize failed: cannot open the tokenizer after a crash" } });
  });

  test('execute never returns: execute_timeout_ms answers DEADLINE_EXCEEDED and the worker is replaced', async () => {
    const t0 = performance.now();
    const r = await answer(await post('js_hang', x(1)));
    expect(r).toEqual({ status: 504, json: { error: "model 'js_hang' version 1: execute did not return within execute_timeout_ms (3000 ms); its worker was restarted" } });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2900);
    expect((await answer(await post('js_hang', x(4)))).status).toBe(200);
  });

  test('a stuck model whose client gave up: the instance is freed after cancel_grace_ms, not held forever', async () => {
    const controller = new AbortController();
    const stuck = post('js_hang', x(2), controller.signal).catch((e: Error) => e.name);
    await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    expect(await stuck).toBe('AbortError');
    const t0 = performance.now();
    const next = await answer(await post('js_hang', x(5)));
    expect(next).toMatchObject({ status: 200, json: { outputs: [{ data: [5] }] } });
    // Freed by the 200 ms grace, well before the 3 s execute timeout.
    expect(performance.now() - t0).toBeLessThan(2500);
  });
});

describe('gRPC', () => {
  let grpc: GrpcClient;
  beforeAll(() => { grpc = createGrpcClient(s.grpcUrl); });
  afterAll(() => grpc?.close());

  test('ModelInfer on a JS model: BYTES in and out', async () => {
    const r = await grpc.infer({ modelName: 'text_normalize', parameters: {}, inputs: [{ name: 'TEXT', datatype: 'BYTES', shape: [2, 1], data: ['A  B', 'ÇA'].map((t) => new TextEncoder().encode(t)) }] });
    const out = Object.fromEntries(r.outputs.map((o) => [o.name, o]));
    expect(texts(out.NORMALIZED.data)).toEqual(['a b', 'ça']);
    expect([...out.WORDS.data as Int32Array]).toEqual([2, 1]);
  });

  test('a JS model error is the gRPC status of its code; a gRPC deadline frees a stuck instance', async () => {
    await expectGrpcError(grpc.infer({ modelName: 'js_fail', parameters: {}, inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 1], data: Float32Array.from([13]) }] }),
      grpcStatus.INTERNAL, 'unlucky number 13');
    await expectGrpcError(grpc.infer({ modelName: 'js_hang', parameters: {}, inputs: [{ name: 'X', datatype: 'FP32', shape: [1], data: Float32Array.from([2]) }] }, { deadlineMs: 150 }),
      grpcStatus.DEADLINE_EXCEEDED);
    const next = await grpc.infer({ modelName: 'js_hang', parameters: {}, inputs: [{ name: 'X', datatype: 'FP32', shape: [1], data: Float32Array.from([6]) }] }, { deadlineMs: 2500 });
    expect([...next.outputs[0].data as Float32Array]).toEqual([6]);
  });
});

describe('unload', () => {
  test('stopping runs finalize() in every worker and leaves no worker behind', async () => {
    expect(liveJsWorkerCount()).toBeGreaterThan(workersBefore);
    await s.stop();
    for (const i of [0, 1]) expect(existsSync(join(repo, 'js_slow', `finalized-js_slow_0_${i}`)), `finalize of js_slow_0_${i}`).toBe(true);
    expect(liveJsWorkerCount()).toBe(workersBefore);
  });
});
