/**
 * Model warmup: sample data (zero, random, file; batch stacking, reshape, sequence control
 * inputs), clear errors naming the sample, every instance runs every sample `count` times,
 * and at load: before READY, outside the statistics, a failure makes the load fail.
 */
import { describe, expect, test } from 'vitest';
import { buildWarmupSamples, runWarmup } from '../../core/warmup.ts';
import type { ModelConfig, ModelInput, ModelOutput, ModelWarmup } from '../../core/model-config.ts';
import type { ConfigDataType } from '../../protocol/datatypes.ts';
import { encodeBytesTensor } from '../../protocol/bytes-codec.ts';
import { isInferError } from '../../protocol/errors.ts';
import { modelConfig } from '../support/scheduler-fixtures.ts';
import { fakeInstances, flush } from '../support/fake-backend.ts';
import { fp32Config, fp32Signature, startFakeModelServer } from '../support/fake-model-server.ts';

const input = (name: string, data_type: ConfigDataType, dims: number[], extra: Partial<ModelInput> = {}): ModelInput => ({
  name, data_type, format: 'FORMAT_NONE', dims, is_shape_tensor: false, allow_ragged_batch: false, optional: false, is_non_linear_format_io: false, ...extra,
});
const output = (name: string, data_type: ConfigDataType, dims: number[]): ModelOutput => ({
  name, data_type, dims, label_filename: '', is_shape_tensor: false, is_non_linear_format_io: false,
});

function config(warmup: ModelWarmup[], over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    ...modelConfig({ name: 'w', max_batch_size: 8, dynamic_batching: undefined }),
    input: [input('X', 'TYPE_FP32', [2]), input('S', 'TYPE_STRING', [1]), input('B', 'TYPE_BOOL', [4], { optional: true })],
    output: [output('Y', 'TYPE_FP32', [2])],
    model_warmup: warmup,
    ...over,
  };
}

const sample = (inputs: ModelWarmup['inputs'], batch_size = 1, count = 0, name = 's'): ModelWarmup => ({ name, batch_size, inputs, count });
const noFiles = async (f: string): Promise<Uint8Array> => { throw new Error(`no file ${f}`); };

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(isInferError(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected a rejection');
}

describe('warmup samples', () => {
  test('zero data, stacked batch_size times; BYTES zero data are empty strings', async () => {
    const [s] = await buildWarmupSamples(config([sample({
      X: { data_type: 'TYPE_FP32', dims: [2], zero_data: true },
      S: { data_type: 'TYPE_STRING', dims: [1], zero_data: true },
    }, 3, 2)]), noFiles);
    expect(s.runs).toBe(2);
    expect(s.outputNames).toEqual(['Y']);
    const x = s.inputs.find((t) => t.name === 'X')!;
    expect(x.shape).toEqual([3, 2]);
    expect(Array.from(x.data as Float32Array)).toEqual([0, 0, 0, 0, 0, 0]);
    const str = s.inputs.find((t) => t.name === 'S')!;
    expect(str.shape).toEqual([3, 1]);
    expect((str.data as Uint8Array[]).map((e) => e.length)).toEqual([0, 0, 0]);
  });

  test('random data: random bytes, the same item in every batch row; BOOL is 0/1; BYTES falls back to empty', async () => {
    const [s] = await buildWarmupSamples(config([sample({
      X: { data_type: 'TYPE_FP32', dims: [16], random_data: true },
      S: { data_type: 'TYPE_STRING', dims: [1], random_data: true },
      B: { data_type: 'TYPE_BOOL', dims: [64], random_data: true },
    }, 2)], { input: [input('X', 'TYPE_FP32', [16]), input('S', 'TYPE_STRING', [1]), input('B', 'TYPE_BOOL', [64])] }), noFiles);
    const x = new Uint32Array((s.inputs.find((t) => t.name === 'X')!.data as Float32Array).buffer);
    expect(x.length).toBe(32);
    expect(new Set(x).size).toBeGreaterThan(8);
    expect(Array.from(x.subarray(0, 16))).toEqual(Array.from(x.subarray(16)));
    const b = s.inputs.find((t) => t.name === 'B')!.data as Uint8Array;
    expect(b.every((v) => v === 0 || v === 1)).toBe(true);
    expect(new Set(b).size).toBe(2);
    expect((s.inputs.find((t) => t.name === 'S')!.data as Uint8Array[]).every((e) => e.length === 0)).toBe(true);
  });

  test('input_data_file: raw little-endian bytes from warmup/, cut to size; BYTES as length-prefixed elements', async () => {
    const files: Record<string, Uint8Array> = {
      'x.bin': new Uint8Array(Float32Array.of(1.5, -2, 99).buffer),
      's.bin': encodeBytesTensor([new TextEncoder().encode('hello')]),
    };
    const read = async (f: string) => {
      if (!(f in files)) throw new Error(`no file ${f}`);
      return files[f];
    };
    const [s] = await buildWarmupSamples(config([sample({
      X: { data_type: 'TYPE_FP32', dims: [2], input_data_file: 'x.bin' },
      S: { data_type: 'TYPE_STRING', dims: [1], input_data_file: 's.bin' },
    }, 2)]), read);
    expect(Array.from(s.inputs.find((t) => t.name === 'X')!.data as Float32Array)).toEqual([1.5, -2, 1.5, -2]);
    expect((s.inputs.find((t) => t.name === 'S')!.data as Uint8Array[]).map((e) => new TextDecoder().decode(e))).toEqual(['hello', 'hello']);
  });

  test('bad files and data fail with the sample and input named', async () => {
    const short = async () => new Uint8Array(4);
    const cfg = (x: ModelWarmup['inputs']['X'], name = 'first') => config([sample({ X: x, S: { data_type: 'TYPE_STRING', dims: [1], zero_data: true } }, 1, 0, name)]);
    expect(await errorOf(buildWarmupSamples(cfg({ data_type: 'TYPE_FP32', dims: [2], input_data_file: 'x.bin' }), short)))
      .toBe("model 'w': failed to run warmup sample 'first': input 'X': warmup setting expects 8 bytes (2 × FP32), but the data provided from 'warmup/x.bin' only has 4 bytes");
    expect(await errorOf(buildWarmupSamples(cfg({ data_type: 'TYPE_FP32', dims: [2], input_data_file: 'missing.bin' }), noFiles)))
      .toBe("model 'w': failed to run warmup sample 'first': input 'X': cannot read input_data_file 'warmup/missing.bin': no file missing.bin");
    expect(await errorOf(buildWarmupSamples(cfg({ data_type: 'TYPE_FP32', dims: [2], input_data_file: '../other/1/model.onnx' }), short)))
      .toContain("input_data_file '../other/1/model.onnx' must name a file inside the model's 'warmup/' folder");
    expect(await errorOf(buildWarmupSamples(cfg({ data_type: 'TYPE_FP32', dims: [-1], zero_data: true }), noFiles)))
      .toContain('warmup needs every dimension given a size (no -1)');
    // The same validation as a request: dims against the config, and required inputs.
    expect(await errorOf(buildWarmupSamples(cfg({ data_type: 'TYPE_FP32', dims: [3], zero_data: true }), noFiles)))
      .toContain("failed to run warmup sample 'first': unexpected shape for input 'X' for model 'w'. Expected [-1,2], got [1,3]");
    expect(await errorOf(buildWarmupSamples(config([sample({ X: { data_type: 'TYPE_FP32', dims: [2], zero_data: true } })]), noFiles)))
      .toContain("missing required input(s) ['S']");
    expect(await errorOf(buildWarmupSamples(config([sample({ X: { data_type: 'TYPE_INT32', dims: [2], zero_data: true }, S: { data_type: 'TYPE_STRING', dims: [1], zero_data: true } })]), noFiles)))
      .toContain("inference input 'X' data-type is 'INT32', but model 'w' expects 'FP32'");
    const badBytes = async () => encodeBytesTensor([new Uint8Array(1), new Uint8Array(2)]);
    expect(await errorOf(buildWarmupSamples(config([sample({ X: { data_type: 'TYPE_FP32', dims: [2], zero_data: true }, S: { data_type: 'TYPE_STRING', dims: [1], input_data_file: 's.bin' } })]), badBytes)))
      .toContain('trailing bytes');
  });

  test('non-batching models get the dims as the full shape; config reshape is applied', async () => {
    const [s] = await buildWarmupSamples(config([sample({ X: { data_type: 'TYPE_FP32', dims: [2, 3], zero_data: true } })], {
      max_batch_size: 0, input: [input('X', 'TYPE_FP32', [2, 3], { reshape: { shape: [6] } })],
    }), noFiles);
    expect(s.inputs[0].shape).toEqual([6]);
    expect((s.inputs[0].data as Float32Array).length).toBe(6);
  });

  test('sequence control inputs (not config inputs) pass through with the batch dimension', async () => {
    const [s] = await buildWarmupSamples(config([sample({
      X: { data_type: 'TYPE_FP32', dims: [2], zero_data: true },
      S: { data_type: 'TYPE_STRING', dims: [1], zero_data: true },
      START: { data_type: 'TYPE_INT32', dims: [1], zero_data: true },
    }, 2)]), noFiles);
    const start = s.inputs.find((t) => t.name === 'START')!;
    expect(start.shape).toEqual([2, 1]);
    expect(start.datatype).toBe('INT32');
  });
});

describe('runWarmup', () => {
  const cfg = config([
    sample({ X: { data_type: 'TYPE_FP32', dims: [2], zero_data: true }, S: { data_type: 'TYPE_STRING', dims: [1], zero_data: true } }, 1, 3, 'a'),
    sample({ X: { data_type: 'TYPE_FP32', dims: [2], zero_data: true }, S: { data_type: 'TYPE_STRING', dims: [1], zero_data: true } }, 4, 0, 'b'),
  ]);

  test('every instance runs every sample count times (0 = once), in order', async () => {
    const instances = fakeInstances(2);
    for (const i of instances) i.autoResolve = true;
    await runWarmup({ config: cfg, instances, readWarmupFile: noFiles });
    for (const i of instances) expect(i.calls.map((c) => c.batchSize)).toEqual([1, 1, 1, 4]);
  });

  test('an execution failure rejects, naming the sample and the instance', async () => {
    const instances = fakeInstances(1);
    const p = runWarmup({ config: cfg, instances, readWarmupFile: noFiles });
    const msg = errorOf(p);
    await flush();
    instances[0].calls[0].resolve();
    await flush();
    instances[0].calls[1].reject(new Error('kernel exploded'));
    expect(await msg).toBe("model 'w': failed to run warmup sample 'a' on instance 0 (fake:0): kernel exploded");
    expect(instances[0].calls).toHaveLength(2);
  });
});

describe('warmup at load', () => {
  const extra = (w: string) => `instance_group [ { kind: KIND_CPU count: 2 } ]\nmodel_warmup [ ${w} ]`;
  const zero = '{ name: "zeros" batch_size: 2 count: 2 inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } } }';
  const fromFile = (file: string) => `{ name: "from_file" batch_size: 1 inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 4 ] input_data_file: "${file}" } } }`;

  test('runs on every instance before the model is READY, and is not in the statistics', async () => {
    const fs = await startFakeModelServer([
      { name: 'warm', config: fp32Config('warm', [4], 8, extra(`${zero}, ${fromFile('four.bin')}`)), signature: fp32Signature([4], true), files: { 'warmup/four.bin': new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer) } },
    ], { autoResolve: false, start: false });
    const started = fs.server.start();
    await flush();
    await flush();
    const insts = fs.instances.get('warm')!;
    expect(insts).toHaveLength(2);
    expect(fs.server.repositoryIndex()).toEqual([{ name: 'warm', version: '1', state: 'LOADING' }]);
    expect(() => fs.server.modelReady('warm')).toThrow();
    // Each instance runs zeros twice (batch 2), then the file sample once.
    for (let step = 0; step < 3; step++) {
      await flush();
      for (const i of insts) {
        expect(i.pending).toHaveLength(1);
        i.pending[0].resolve();
      }
    }
    await started;
    expect(fs.server.repositoryIndex()).toEqual([{ name: 'warm', version: '1', state: 'READY' }]);
    for (const i of insts) {
      expect(i.calls.map((c) => c.batchSize)).toEqual([2, 2, 1]);
      expect(Array.from(i.calls[2].inputs[0].data as Float32Array)).toEqual([1, 2, 3, 4]);
    }
    const stats = fs.server.statistics('warm').model_stats[0] as { execution_count: number; inference_stats: { success: { count: number } } };
    expect(stats.execution_count).toBe(0);
    expect(stats.inference_stats.success.count).toBe(0);
    await fs.server.stop();
  });

  test('a bad warmup file or a failing sample makes the load fail with the reason in the index', async () => {
    const fs = await startFakeModelServer([
      { name: 'short_file', config: fp32Config('short_file', [4], 8, extra(fromFile('short.bin'))), signature: fp32Signature([4], true), files: { 'warmup/short.bin': new Uint8Array(8) } },
      { name: 'no_file', config: fp32Config('no_file', [4], 8, extra(fromFile('absent.bin'))), signature: fp32Signature([4], true) },
      { name: 'fine', config: fp32Config('fine', [4], 8, extra(zero)), signature: fp32Signature([4], true) },
    ]);
    const index = fs.server.repositoryIndex();
    expect(index.find((e) => e.name === 'fine')?.state).toBe('READY');
    const short = index.find((e) => e.name === 'short_file')!;
    expect(short.state).toBe('UNAVAILABLE');
    expect(short.reason).toBe("model 'short_file': failed to run warmup sample 'from_file': input 'INPUT0': warmup setting expects 16 bytes (4 × FP32), but the data provided from 'warmup/short.bin' only has 8 bytes");
    const none = index.find((e) => e.name === 'no_file')!;
    expect(none.state).toBe('UNAVAILABLE');
    expect(none.reason).toMatch(/^model 'no_file': failed to run warmup sample 'from_file': input 'INPUT0': cannot read input_data_file 'warmup\/absent.bin': /);
    // The failed loads released their instances.
    expect(fs.instances.get('short_file')!.every((i) => i.disposed)).toBe(true);
    await fs.server.stop();
  });
});
