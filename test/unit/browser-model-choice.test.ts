/**
 * Which models a tab serves (browser-host/model-choice.ts): offers built from peers' reports,
 * named and automatic choice within the memory budget.
 */
import { describe, expect, test } from 'vitest';
import type { ModelStatus } from '../../protocol/mesh-pb.ts';
import { chooseModels, DEFAULT_MEMORY_FACTOR, formatBytes, offersFrom, type ModelOffer } from '../../browser-host/model-choice.ts';

const hash = (n: number) => new Uint8Array(32).fill(n);
const hex = (n: number) => n.toString(16).padStart(2, '0').repeat(32);

function model(name: string, o: Partial<ModelStatus> = {}): ModelStatus {
  return {
    name, versions: ['1'], platform: 'onnxruntime_onnx', maxBatchSize: 8, inputs: [], outputs: [], throughput: 10, queued: 0, inFlight: 0,
    files: [{ path: 'config.pbtxt', sha256: hash(1), size: 100 }, { path: '1/model.onnx', sha256: hash(2), size: 1000 }], ...o,
  };
}

function offer(name: string, bytes: number, o: Partial<ModelOffer> = {}): ModelOffer {
  return { name, version: '1', platform: 'onnxruntime_onnx', files: [], bytes, hosts: ['p'], demand: 0, ...o };
}

describe('offers from status reports', () => {
  test('root files plus the highest version; hosts with the same files merge; demand sums over peers', () => {
    const two = model('m', {
      versions: ['1', '2'], queued: 3, inFlight: 1,
      files: [{ path: 'config.pbtxt', sha256: hash(1), size: 100 }, { path: '1/model.onnx', sha256: hash(2), size: 1000 }, { path: '2/model.onnx', sha256: hash(3), size: 2000 }],
    });
    const onlyTwo = model('m', { versions: ['2'], queued: 2, files: [{ path: 'config.pbtxt', sha256: hash(1), size: 100 }, { path: '2/model.onnx', sha256: hash(3), size: 2000 }] });
    const old = model('m', { inFlight: 4 });
    const offers = offersFrom([{ peerId: 'a', status: { models: [two] } }, { peerId: 'b', status: { models: [onlyTwo] } }, { peerId: 'c', status: { models: [old] } }]);
    expect(offers).toEqual([{
      name: 'm', version: '2', platform: 'onnxruntime_onnx', bytes: 2100, hosts: ['a', 'b'], demand: 10,
      files: [{ path: 'config.pbtxt', sha256: hex(1), size: 100 }, { path: '2/model.onnx', sha256: hex(3), size: 2000 }],
    }]);
  });

  test('models without files (a host that shares none) or without the version folder are not offered', () => {
    expect(offersFrom([{ peerId: 'a', status: { models: [model('x', { files: [] }), model('y', { files: [{ path: 'config.pbtxt', sha256: hash(1), size: 1 }] })] } }])).toEqual([]);
  });
});

describe('choosing models', () => {
  test('named: in order, within the budget (a model counts its memory factor × its size), unknown ones wait', () => {
    const offers = [offer('small', 100), offer('big', 1000), offer('mid', 300)];
    const c = chooseModels({ offers, request: { mode: 'named', names: ['big', 'mid', 'ghost', 'small'] }, budgetBytes: 1000 * DEFAULT_MEMORY_FACTOR + 200 });
    expect(c.load.map((o) => o.name)).toEqual(['big', 'small']);
    expect(c.waiting).toEqual(['ghost']);
    expect(c.skipped).toEqual([{ name: 'mid', reason: `needs about ${formatBytes(600)} (2 × its ${formatBytes(300)} of files) but only ${formatBytes(200)} of the ${formatBytes(2200)} budget is left` }]);
  });

  test('loaded models keep their share of the budget and are not chosen again', () => {
    const c = chooseModels({ offers: [offer('a', 100), offer('b', 100)], request: { mode: 'named', names: ['a', 'b'] }, budgetBytes: 400, loaded: [{ name: 'a', bytes: 150 }] });
    expect(c.load).toEqual([]);
    expect(c.skipped.map((s) => s.name)).toEqual(['b']);
  });

  test('platforms a browser cannot run are skipped with the reason', () => {
    const c = chooseModels({ offers: [offer('py', 10, { platform: 'python' })], request: { mode: 'named', names: ['py'] }, budgetBytes: 1e9 });
    expect(c.skipped[0].reason).toMatch(/platform 'python' does not run in a browser/);
  });

  test('auto: models a tab cannot run (JS, ensembles) neither load nor use up the model limit', () => {
    const offers = [offer('js', 10, { platform: 'javascript', demand: 9 }), offer('ens', 0, { platform: 'ensemble', demand: 9 }), offer('a', 10), offer('b', 10)];
    const c = chooseModels({ offers, request: { mode: 'auto' }, budgetBytes: 1e9, autoMaxModels: 2 });
    expect(c.load.map((o) => o.name).sort()).toEqual(['a', 'b']);
    expect(c.skipped.map((s) => s.reason).sort()).toEqual([expect.stringMatching(/'ensemble' does not run/), expect.stringMatching(/'javascript' does not run/)]);
  });

  test('auto: most demanded first, then the scarcer, then the smaller; at most the model limit; always within budget', () => {
    const offers = [
      offer('idle-small', 10), offer('busy-big', 5000, { demand: 9 }), offer('busy-small', 100, { demand: 9, hosts: ['p', 'q'] }),
      offer('busy-scarce', 200, { demand: 9 }), offer('warm', 50, { demand: 1 }),
    ];
    const c = chooseModels({ offers, request: { mode: 'auto' }, budgetBytes: 1000, autoMaxModels: 3 });
    expect(c.load.map((o) => o.name)).toEqual(['busy-scarce', 'busy-small', 'warm']);
    expect(c.skipped).toEqual([
      { name: 'busy-big', reason: expect.stringMatching(/needs about 9\.8 KB/) },
      { name: 'idle-small', reason: 'automatic mode serves at most 3 models' },
    ]);
  });
});
