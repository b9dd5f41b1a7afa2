/**
 * The sequence batcher over real HTTP and real onnxruntime-node: interleaved sequences keep
 * their own implicit state, ids as numbers and strings, the oldest strategy with typed control
 * tensors and a data_file initial state, idle release, backlog, and Triton's errors.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';
import { buildModel } from '../../scripts/onnx-builder.ts';
import { EXAMPLES, startTestServer, type TestServer } from '../support/test-server.ts';

/**
 * `sequence_oldest`: OUTPUT = STATE_IN + INPUT (FP32 [2]); CORRID_OUT = CORRID (UINT64);
 * FLAGS = [START as INT32, END] — so the test sees the control tensors the model received.
 */
function oldestModel(): Uint8Array {
  const b = 'batch';
  return buildModel({
    graphName: 'sequence_oldest',
    inputs: [
      { name: 'INPUT', elemType: 'FLOAT', shape: [b, 2] }, { name: 'START', elemType: 'BOOL', shape: [b, 1] },
      { name: 'END', elemType: 'INT32', shape: [b, 1] }, { name: 'CORRID', elemType: 'UINT64', shape: [b, 1] },
      { name: 'STATE_IN', elemType: 'FLOAT', shape: [b, 2] },
    ],
    outputs: [
      { name: 'OUTPUT', elemType: 'FLOAT', shape: [b, 2] }, { name: 'STATE_OUT', elemType: 'FLOAT', shape: [b, 2] },
      { name: 'CORRID_OUT', elemType: 'UINT64', shape: [b, 1] }, { name: 'FLAGS', elemType: 'INT32', shape: [b, 2] },
    ],
    nodes: [
      { opType: 'Add', inputs: ['STATE_IN', 'INPUT'], outputs: ['OUTPUT'] },
      { opType: 'Identity', inputs: ['OUTPUT'], outputs: ['STATE_OUT'] },
      { opType: 'Identity', inputs: ['CORRID'], outputs: ['CORRID_OUT'] },
      { opType: 'Cast', inputs: ['START'], outputs: ['start_i32'], attributes: { to: 6 } },
      { opType: 'Concat', inputs: ['start_i32', 'END'], outputs: ['FLAGS'], attributes: { axis: 1 } },
    ],
  });
}

const OLDEST_CONFIG = `name: "sequence_oldest"
platform: "onnxruntime_onnx"
max_batch_size: 4
input [ { name: "INPUT" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [
  { name: "OUTPUT" data_type: TYPE_FP32 dims: [ 2 ] },
  { name: "CORRID_OUT" data_type: TYPE_UINT64 dims: [ 1 ] },
  { name: "FLAGS" data_type: TYPE_INT32 dims: [ 2 ] }
]
sequence_batching {
  oldest { max_candidate_sequences: 4 preferred_batch_size: [ 4 ] max_queue_delay_microseconds: 2000 }
  control_input [
    { name: "START" control [ { kind: CONTROL_SEQUENCE_START bool_false_true: [ false, true ] } ] },
    { name: "END" control [ { kind: CONTROL_SEQUENCE_END int32_false_true: [ 0, 1 ] } ] },
    { name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } ] }
  ]
  state [ {
    input_name: "STATE_IN" output_name: "STATE_OUT" data_type: TYPE_FP32 dims: [ 2 ]
    initial_state { data_type: TYPE_FP32 dims: [ 2 ] data_file: "init.bin" name: "init" }
  } ]
}
instance_group [ { count: 1 kind: KIND_CPU } ]
`;

let repo: string;
let s: TestServer;

beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), 'infermesh-seq-http-'));
  cpSync(join(EXAMPLES, 'sequence_accumulate'), join(repo, 'sequence_accumulate'), { recursive: true });
  // one slot and a short idle time: backlog and idle release within a test's time
  const accConfig = readFileSync(join(EXAMPLES, 'sequence_accumulate', 'config.pbtxt'), 'utf8');
  mkdirSync(join(repo, 'sequence_one_slot', '1'), { recursive: true });
  cpSync(join(EXAMPLES, 'sequence_accumulate', '1', 'model.onnx'), join(repo, 'sequence_one_slot', '1', 'model.onnx'));
  writeFileSync(join(repo, 'sequence_one_slot', 'config.pbtxt'), accConfig
    .replace('name: "sequence_accumulate"', 'name: "sequence_one_slot"')
    .replace('max_batch_size: 4', 'max_batch_size: 1')
    .replace('max_sequence_idle_microseconds: 5000000', 'max_sequence_idle_microseconds: 400000'));
  mkdirSync(join(repo, 'sequence_padded', '1'), { recursive: true });
  cpSync(join(EXAMPLES, 'sequence_accumulate', '1', 'model.onnx'), join(repo, 'sequence_padded', '1', 'model.onnx'));
  writeFileSync(join(repo, 'sequence_padded', 'config.pbtxt'), accConfig
    .replace('name: "sequence_accumulate"', 'name: "sequence_padded"')
    .replace('direct { }', 'direct { max_queue_delay_microseconds: 100000 minimum_slot_utilization: 1.0 }'));
  mkdirSync(join(repo, 'sequence_oldest', '1'), { recursive: true });
  mkdirSync(join(repo, 'sequence_oldest', 'initial_state'), { recursive: true });
  writeFileSync(join(repo, 'sequence_oldest', '1', 'model.onnx'), oldestModel());
  writeFileSync(join(repo, 'sequence_oldest', 'config.pbtxt'), OLDEST_CONFIG);
  writeFileSync(join(repo, 'sequence_oldest', 'initial_state', 'init.bin'), new Uint8Array(new Float32Array([100, 200]).buffer));
  s = await startTestServer({ repositories: [repo] });
});

afterAll(async () => {
  await s?.stop();
  if (repo) rmSync(repo, { recursive: true, force: true });
});

type SeqId = number | string;

function accRequest(model: string, id: SeqId, x: number, flags: { start?: boolean; end?: boolean } = {}): InferRequest {
  const parameters: InferRequest['parameters'] = { sequence_id: id };
  if (flags.start) parameters.sequence_start = true;
  if (flags.end) parameters.sequence_end = true;
  return { modelName: model, parameters, inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 4], data: new Float32Array([x, 2 * x, 3 * x, 4 * x]) }] };
}

const values = (r: InferResponse, name = 'OUTPUT'): number[] => Array.from(r.outputs.find((o) => o.name === name)!.data as ArrayLike<number | bigint>, Number);

describe('sequence batcher over HTTP (sequence_accumulate, direct strategy, implicit state)', () => {
  test('interleaved sequences with number and string ids each keep their own running sum', async () => {
    const ids: SeqId[] = [1, 9007199254740991, 'e333c95a-07fc-42d2-ab16-033b1a566ed5', '42', 42, 'z'];
    const steps = 5;
    // Every sequence sends its requests one after the other, all sequences at once: their
    // requests interleave and share batches. Six sequences, four slots: two wait in the backlog
    // until a sequence ends (a client that waited for every sequence's step k before any
    // step k+1 would deadlock there, in Triton as here).
    const run = async (id: SeqId, i: number): Promise<number[][]> => {
      const seen: number[][] = [];
      for (let k = 0; k < steps; k++) {
        const r = await s.client.infer(
          accRequest('sequence_accumulate', id, i + 1 + 10 * k, { start: k === 0, end: k === steps - 1 }),
          { binaryInputs: k % 2 === 0, binaryOutputs: k % 2 === 1 },
        );
        // the state output is internal: never returned
        expect(r.outputs.map((o) => o.name)).toEqual(['OUTPUT']);
        seen.push(values(r));
      }
      return seen;
    };
    const all = await Promise.all(ids.map(run));
    ids.forEach((id, i) => {
      let sum = 0;
      const want = Array.from({ length: steps }, (_, k) => { sum += i + 1 + 10 * k; return [sum, 2 * sum, 3 * sum, 4 * sum]; });
      expect(all[i], `sequence ${id}`).toEqual(want);
    });
    const stats = (await s.client.get('/v2/models/sequence_accumulate/stats')).json as { model_stats: { inference_count: number }[] };
    expect(stats.model_stats[0].inference_count).toBe(ids.length * steps);
  });

  test('rows of one execution: padding rows for idle slots run through the real model', async () => {
    // minimum_slot_utilization 1.0: each execution waits up to 0.1 s for every slot, so the
    // rows batch together deterministically.
    const m = 'sequence_padded';
    for (const [i, id] of ['A', 'B', 'C', 'D'].entries()) {
      expect(values(await s.client.infer(accRequest(m, id, i + 1, { start: true })))[0]).toBe(i + 1);
    }
    // only the sequences in slots 0 and 2 send: slot 1 is a padding row (READY 0) in their batch
    const [a, c] = await Promise.all([s.client.infer(accRequest(m, 'A', 10)), s.client.infer(accRequest(m, 'C', 10))]);
    expect([values(a)[0], values(c)[0]]).toEqual([11, 13]);
    const ends = await Promise.all(['A', 'B', 'C', 'D'].map((id) => s.client.infer(accRequest(m, id, 100, { end: true }))));
    expect(ends.map((r) => values(r)[0])).toEqual([111, 102, 113, 104]);
    const stats = (await s.client.get(`/v2/models/${m}/stats`)).json as { model_stats: { inference_count: number; execution_count: number }[] };
    expect(stats.model_stats[0].inference_count).toBe(10);
    // 4 lone STARTs, then {A, C} with padding, then the four ENDs together
    expect(stats.model_stats[0].execution_count).toBe(6);
  });

  test('the string "42" and the number 42 are different sequences', async () => {
    await s.client.infer(accRequest('sequence_accumulate', 42, 1, { start: true }));
    await s.client.infer(accRequest('sequence_accumulate', '42', 100, { start: true }));
    expect(values(await s.client.infer(accRequest('sequence_accumulate', 42, 1, { end: true })))[0]).toBe(2);
    expect(values(await s.client.infer(accRequest('sequence_accumulate', '42', 100, { end: true })))[0]).toBe(200);
  });

  test('metadata shows the client inputs and outputs only; the config shows sequence_batching', async () => {
    const meta = (await s.client.get('/v2/models/sequence_accumulate')).json as { inputs: { name: string }[]; outputs: { name: string }[] };
    expect(meta.inputs.map((i) => i.name)).toEqual(['INPUT']);
    expect(meta.outputs.map((o) => o.name)).toEqual(['OUTPUT']);
    const cfg = (await s.client.get('/v2/models/sequence_accumulate/config')).json as { sequence_batching: { max_sequence_idle_microseconds: number; state: unknown[] } };
    expect(cfg.sequence_batching.max_sequence_idle_microseconds).toBe(5_000_000);
    expect(cfg.sequence_batching.state).toHaveLength(1);
    const server = (await s.client.get('/v2')).json as { extensions: string[] };
    expect(server.extensions).toContain('sequence');
  });

  test("Triton's errors: no correlation id, no START, batch of two, bad parameter types", async () => {
    const err = async (req: InferRequest) => {
      const r = await s.client.inferRaw(req);
      return { status: r.status, error: (r.json as { error: string }).error };
    };
    const noId = accRequest('sequence_accumulate', 0, 1, { start: true });
    expect(await err(noId)).toEqual({ status: 400, error: "inference request to model 'sequence_accumulate' must specify a non-zero or non-empty correlation ID" });
    expect(await err({ ...noId, parameters: {} })).toEqual({ status: 400, error: "inference request to model 'sequence_accumulate' must specify a non-zero or non-empty correlation ID" });
    expect(await err(accRequest('sequence_accumulate', 777, 1))).toEqual({
      status: 400, error: "inference request for sequence 777 to model 'sequence_accumulate' must specify the START flag on the first request of the sequence",
    });
    const two = accRequest('sequence_accumulate', 778, 1, { start: true });
    two.inputs[0] = { ...two.inputs[0], shape: [2, 4], data: new Float32Array(8) };
    expect(await err(two)).toEqual({ status: 400, error: "inference request to model 'sequence_accumulate' must specify batch-size 1 due to requirements of sequence batcher" });
    expect((await err({ ...noId, parameters: { sequence_id: -3 } })).status).toBe(400);
    expect((await err({ ...noId, parameters: { sequence_id: 5, sequence_start: 'yes' as unknown as boolean } })).error).toMatch(/sequence_start/);
  });
});

describe('sequence batcher over HTTP (oldest strategy, typed controls, data_file initial state)', () => {
  test('the model receives START (BOOL), END (INT32) and CORRID (UINT64); state starts from initial_state/init.bin', async () => {
    const req = (id: SeqId, x: number, flags: { start?: boolean; end?: boolean } = {}): InferRequest => {
      const parameters: InferRequest['parameters'] = { sequence_id: id };
      if (flags.start) parameters.sequence_start = true;
      if (flags.end) parameters.sequence_end = true;
      return { modelName: 'sequence_oldest', parameters, inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 2], data: new Float32Array([x, x]) }] };
    };
    const ids: SeqId[] = [7, '18446744073709551615', 123456789];
    const first = await Promise.all(ids.map((id, i) => s.client.infer(req(id, i + 1, { start: true }), { binaryOutputs: true })));
    const second = await Promise.all(ids.map((id, i) => s.client.infer(req(id, 10 * (i + 1), { end: true }), { binaryOutputs: true })));
    ids.forEach((id, i) => {
      const x = i + 1;
      expect(values(first[i])).toEqual([100 + x, 200 + x]);
      expect(values(second[i])).toEqual([100 + 11 * x, 200 + 11 * x]);
      expect(values(first[i], 'FLAGS')).toEqual([1, 0]);
      expect(values(second[i], 'FLAGS')).toEqual([0, 1]);
      const corr = first[i].outputs.find((o) => o.name === 'CORRID_OUT')!.data as BigUint64Array;
      expect(corr[0]).toBe(BigInt(id));
    });
  });

  test('a string id that is not a number is refused for a numeric CORRID', async () => {
    const r = await s.client.inferRaw({ modelName: 'sequence_oldest', parameters: { sequence_id: 'abc', sequence_start: true }, inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 2], data: new Float32Array(2) }] });
    expect(r.status).toBe(400);
    expect((r.json as { error: string }).error).toMatch(/sequence id 'abc' is a string, but model 'sequence_oldest' takes its correlation id in control 'CORRID' of type UINT64/);
  });
});

describe('sequence batcher over HTTP (one slot: backlog and idle release)', () => {
  test('a second sequence waits for the slot until the first one ends', async () => {
    const m = 'sequence_one_slot';
    expect(values(await s.client.infer(accRequest(m, 1, 1, { start: true })))[0]).toBe(1);
    let bDone = false;
    const b = s.client.infer(accRequest(m, 2, 5, { start: true })).then((r) => { bDone = true; return r; });
    await new Promise((r) => setTimeout(r, 150));
    expect(bDone).toBe(false);
    // its request is counted as pending (queued in the backlog)
    const metrics = await (await fetch(s.metricsUrl)).text();
    expect(metrics).toMatch(/nv_inference_pending_request_count\{model="sequence_one_slot",version="1"\} 1\b/);
    expect(values(await s.client.infer(accRequest(m, 1, 1, { end: true })))[0]).toBe(2);
    expect(values(await b)[0]).toBe(5);
    expect(values(await s.client.infer(accRequest(m, 2, 1, { end: true })))[0]).toBe(6);
  });

  test('a sequence idle longer than max_sequence_idle_microseconds is released: continuing it needs START', async () => {
    const m = 'sequence_one_slot';
    expect(values(await s.client.infer(accRequest(m, 3, 1, { start: true })))[0]).toBe(1);
    // the next sequence gets the slot once sequence 3 has been idle for 0.4 s
    const t0 = performance.now();
    expect(values(await s.client.infer(accRequest(m, 4, 7, { start: true })))[0]).toBe(7);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(350);
    const r = await s.client.inferRaw(accRequest(m, 3, 1));
    expect(r.status).toBe(400);
    expect((r.json as { error: string }).error).toBe(`inference request for sequence 3 to model '${m}' must specify the START flag on the first request of the sequence`);
    await s.client.infer(accRequest(m, 4, 1, { end: true }));
  });
});
