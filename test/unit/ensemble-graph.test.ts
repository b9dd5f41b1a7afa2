/**
 * The pure ensemble graph: structure checks at load (cycles, tensors written twice, inputs
 * nothing provides), pruning, Triton's batch-dimension fitting, and the checks of steps against
 * the configs of composing models this host knows.
 */
import { describe, expect, it } from 'vitest';
import {
  buildEnsembleGraph, checkEnsembleSteps, dimsCompatible, findStepCycle, fitBatchDim, neededSteps,
} from '../../core/ensemble-graph.ts';
import { validateModelConfig } from '../../core/model-config-validate.ts';
import type { ModelConfig } from '../../core/model-config.ts';
import { expectInferError } from '../support/expect-infer-error.ts';
import { config, DIAMOND, modelConfigOf } from '../support/ensemble-fixtures.ts';

/** The diamond with `from` replaced by `to` in its text. */
const diamond = (from?: string | RegExp, to = '') => config(from === undefined ? DIAMOND : DIAMOND.replace(from, to));

/** Composing models of the diamond as this host would know them. */
const KNOWN: Record<string, ModelConfig> = {
  a: modelConfigOf('a', 8, ['x:FP32:2'], ['y:FP32:2']),
  b: modelConfigOf('b', 8, ['x:FP32:2'], ['y:FP32:2']),
  c: modelConfigOf('c', 8, ['x:FP32:2'], ['y:FP32:2']),
  d: modelConfigOf('d', 8, ['l:FP32:2', 'r:FP32:2'], ['y:FP32:2']),
};
const lookupIn = (models: Record<string, ModelConfig>) => (name: string) => models[name];

describe('buildEnsembleGraph', () => {
  it('compiles steps, producers, consumers and versions', () => {
    const g = buildEnsembleGraph(diamond());
    expect(g.steps.map((s) => s.modelName)).toEqual(['a', 'b', 'c', 'd']);
    expect(g.steps.map((s) => s.modelVersion)).toEqual([undefined, undefined, '2', undefined]);
    expect(g.steps[3].inputs).toEqual([{ name: 'l', tensor: 'P' }, { name: 'r', tensor: 'c_out' }]);
    expect(Object.fromEntries(g.producer)).toEqual({ a_out: 0, P: 1, c_out: 2, Y: 3 });
    expect(Object.fromEntries(g.consumers)).toEqual({ X: [0], a_out: [1, 2], P: [3], c_out: [3] });
    expect([...g.inputs]).toEqual(['X']);
  });

  it('names a cycle between steps, in validation and in the graph', () => {
    const cyclic = diamond('input_map { key: "x" value: "a_out" } output_map { key: "y" value: "P" }', 'input_map { key: "x" value: "Y" } output_map { key: "y" value: "P" }');
    const expected = "ensemble 'diamond': steps form a cycle: step 3 ('d') → step 1 ('b') → step 3 ('d'); every tensor must be computed before it is read";
    expect(expectInferError(() => buildEnsembleGraph(cyclic), 'INVALID_ARG')).toBe(expected);
    expect(expectInferError(() => validateModelConfig(cyclic, { modelName: 'diamond' }), 'INVALID_ARG')).toBe(expected);
    expect(findStepCycle([{ input_map: { i: 'x' }, output_map: { o: 'x' } }])).toEqual([0, 0]);
    expect(findStepCycle(diamond().ensemble_scheduling!.step)).toBeUndefined();
  });

  it('refuses a tensor written twice, an overwritten ensemble input and a step of itself', () => {
    expectInferError(() => buildEnsembleGraph(diamond('output_map { key: "y" value: "c_out" }', 'output_map { key: "y" value: "a_out" }')),
      'INVALID_ARG', "ensemble tensor 'a_out' can appear in an output map only once (steps 0 and 2)");
    expectInferError(() => buildEnsembleGraph(diamond('output_map { key: "y" value: "c_out" }', 'output_map { key: "y" value: "X" }')),
      'INVALID_ARG', "step 2 ('c'): writes ensemble tensor 'X', which is an ensemble input");
    expectInferError(() => buildEnsembleGraph(diamond('model_name: "c"', 'model_name: "diamond"')),
      'INVALID_ARG', "step 2 ('diamond'): an ensemble cannot be a step of itself");
  });

  it('refuses inputs nothing provides, unwritten outputs, empty maps and bad versions', () => {
    expectInferError(() => buildEnsembleGraph(diamond('{ key: "r" value: "c_out" }', '{ key: "r" value: "nowhere" }')),
      'INVALID_ARG', "step 3 ('d'): reads ensemble tensor 'nowhere', which is neither an ensemble input nor written by any step's output_map");
    expectInferError(() => buildEnsembleGraph(diamond('output_map { key: "y" value: "Y" }', 'output_map { key: "y" value: "Z" }')),
      'INVALID_ARG', "ensemble output 'Y' is not written by any step's output_map");
    expectInferError(() => buildEnsembleGraph(diamond('input_map { key: "x" value: "X" } ', '')),
      'INVALID_ARG', "step 0 ('a'): must specify 'input_map'");
    expectInferError(() => buildEnsembleGraph(diamond('model_version: 2', 'model_version: -2')),
      'INVALID_ARG', 'model_version must be -1 (latest) or a version number >= 1, got -2');
    expectInferError(() => buildEnsembleGraph(diamond(/ensemble_scheduling \{[^]*$/, '')), 'INVALID_ARG', 'must list at least one step');
  });
});

describe('neededSteps', () => {
  it('keeps only the producers of the requested outputs and their ancestors', () => {
    const g = buildEnsembleGraph(diamond());
    expect(neededSteps(g, ['Y', 'P'])).toEqual([true, true, true, true]);
    expect(neededSteps(g, ['P'])).toEqual([true, true, false, false]);
    expect(neededSteps(g, [])).toEqual([false, false, false, false]);
  });
});

describe('fitBatchDim (Triton ReshapeTensorDims)', () => {
  it('changes nothing when both sides agree on batching', () => {
    expect(fitBatchDim([2], true, 3, [3, 2])).toEqual([3, 2]);
    expect(fitBatchDim([2, 2], false, 0, [2, 2])).toEqual([2, 2]);
  });
  it('adds a batch of 1 for a batching model fed an unbatched tensor that matches its dims', () => {
    expect(fitBatchDim([2], true, 0, [2])).toEqual([1, 2]);
    expect(fitBatchDim([2], true, 0, [5, 2])).toEqual([5, 2]);
  });
  it('drops a batch of 1 for a non-batching model whose dims the batched shape does not match', () => {
    expect(fitBatchDim([2], false, 1, [1, 2])).toEqual([2]);
    expect(fitBatchDim([-1, 2], false, 1, [1, 2])).toEqual([1, 2]);
    expect(fitBatchDim([2], false, 3, [3, 2])).toEqual([3, 2]);
  });
  it('compares dims with wildcards', () => {
    expect(dimsCompatible([-1, 2], [7, 2])).toBe(true);
    expect(dimsCompatible([3, 2], [7, 2])).toBe(false);
    expect(dimsCompatible([2], [2, 1])).toBe(false);
  });
});

describe('checkEnsembleSteps', () => {
  const ens = diamond();
  const g = buildEnsembleGraph(ens);

  it('accepts consistent steps and returns the step models it does not know', () => {
    expect(checkEnsembleSteps(ens, g, lookupIn(KNOWN))).toEqual([]);
    expect(checkEnsembleSteps(ens, g, lookupIn({ a: KNOWN.a, d: KNOWN.d }))).toEqual(['b', 'c']);
    expect(checkEnsembleSteps(ens, g, () => undefined)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('refuses names the composing model does not have, and unmapped required inputs', () => {
    expectInferError(() => checkEnsembleSteps(ens, g, lookupIn({ ...KNOWN, b: modelConfigOf('b', 8, ['input:FP32:2'], ['y:FP32:2']) })),
      'INVALID_ARG', "step 1 ('b'): input_map key 'x' is not an input of model 'b' (its inputs are 'input')");
    expectInferError(() => checkEnsembleSteps(ens, g, lookupIn({ ...KNOWN, c: modelConfigOf('c', 8, ['x:FP32:2'], ['out:FP32:2']) })),
      'INVALID_ARG', "output_map key 'y' is not an output of model 'c' (its outputs are 'out')");
    expectInferError(() => checkEnsembleSteps(ens, g, lookupIn({ ...KNOWN, a: modelConfigOf('a', 8, ['x:FP32:2', 'k:FP32:2'], ['y:FP32:2']) })),
      'INVALID_ARG', "input 'k' of model 'a' is not mapped to any ensemble tensor");
  });

  it('refuses inconsistent types, shapes and batch sizes, as Triton words them', () => {
    expectInferError(() => checkEnsembleSteps(ens, g, lookupIn({ ...KNOWN, c: modelConfigOf('c', 8, ['x:INT32:2'], ['y:FP32:2']) })),
      'INVALID_ARG', "ensemble tensor 'a_out': inconsistent data type: FP32 is inferred from model 'a' while INT32 is inferred from model 'c'");
    expectInferError(() => checkEnsembleSteps(ens, g, lookupIn({ ...KNOWN, d: modelConfigOf('d', 8, ['l:FP32:2', 'r:FP32:2'], ['y:FP32:3']) })),
      'INVALID_ARG', "ensemble tensor 'Y': inconsistent shape: [-1,2] is inferred from model 'diamond' while [-1,3] is inferred from model 'd'");
    expectInferError(() => checkEnsembleSteps(ens, g, lookupIn({ ...KNOWN, b: modelConfigOf('b', 2, ['x:FP32:2'], ['y:FP32:2']) })),
      'INVALID_ARG', "ensemble 'diamond' allows maximum batch size 4, but it contains model 'b' which only allows maximum batch size to be 2");
  });

  it('accepts a non-batching model whose full dims match the batched tensor (Triton rule)', () => {
    const full = modelConfigOf('c', 0, ['x:FP32:-1x2'], ['y:FP32:-1x2']);
    expect(checkEnsembleSteps(ens, g, lookupIn({ ...KNOWN, c: full }))).toEqual([]);
  });

  it('finds a cycle between ensembles this host knows', () => {
    const inner = config(`name: "inner" platform: "ensemble" max_batch_size: 4
input [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ] output [ { name: "y" data_type: TYPE_FP32 dims: [ 2 ] } ]
ensemble_scheduling { step [ { model_name: "diamond" input_map { key: "X" value: "x" } output_map { key: "Y" value: "y" } } ] }`);
    expectInferError(() => checkEnsembleSteps(ens, g, lookupIn({ ...KNOWN, b: { ...inner, name: 'b' } })),
      'INVALID_ARG', "ensemble 'diamond': circular dependency between ensembles: diamond -> b -> diamond");
  });
});
