/**
 * BLS across the mesh: a JS model on host A calls an ONNX model that only host B serves.
 * Two real `infermesh serve` processes on loopback libp2p: A serves `vad_wav` (JavaScript),
 * B serves `silero_vad` (ONNX). Every frame vad_wav sends through `infer` is routed by A's mesh
 * router to B; the probabilities must equal running silero_vad on B directly, frame by frame.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { HostGroup, listsPeer, meshOf, pollUntil, type MeshHost } from '../support/mesh-hosts.ts';
import { asReadFromPcm16, maxAbsDiff, testSignal, texts, vadByHand, wavPcm16 } from '../support/js-model-fixtures.ts';

async function inferenceCount(host: MeshHost, model: string): Promise<number> {
  const r = await fetch(`${host.httpUrl}/v2/models/${model}/stats`, { signal: AbortSignal.timeout(2_000) });
  const j = await r.json() as { model_stats: { inference_count: number }[] };
  return j.model_stats.reduce((n, s) => n + s.inference_count, 0);
}

const group = new HostGroup();
let a: MeshHost;
let b: MeshHost;

beforeAll(async () => {
  b = await group.start('B', { repo: group.makeRepo(['silero_vad']) });
  a = await group.start('A', { repo: group.makeRepo(['vad_wav']), bootstrap: [b.meshAddr] });
  await pollUntil('A to see B serving silero_vad', async () => listsPeer(await meshOf(a), b.peerId, ['silero_vad']), { timeoutMs: 15_000 });
}, 90_000);
afterAll(async () => {
  await group.close();
});

describe('a JS model calling a model on another host (BLS through the mesh)', () => {
  test('A serves only the JS model; B only the ONNX model', async () => {
    const onA = (await a.client.post('/v2/repository/index', {})).json as { name: string; state: string }[];
    expect(onA).toEqual([{ name: 'vad_wav', version: '1', state: 'READY' }]);
    const onB = (await b.client.post('/v2/repository/index', {})).json as { name: string }[];
    expect(onB.map((r) => r.name)).toEqual(['silero_vad']);
  });

  test('vad_wav on A equals silero_vad run on B directly; every frame ran on B', async () => {
    const rate = 16000;
    const signal = testSignal(1, rate);
    const before = await inferenceCount(b, 'silero_vad');
    const r = await a.client.infer({ modelName: 'vad_wav', parameters: {}, inputs: [{ name: 'WAV', datatype: 'BYTES', shape: [1], data: [wavPcm16(signal, rate)] }] }, { binaryInputs: true, binaryOutputs: true });
    const out = Object.fromEntries(r.outputs.map((o) => [o.name, o]));
    const probs = out.PROBABILITIES.data as Float32Array;
    expect(probs.length).toBe(Math.floor(signal.length / 512));
    expect(await inferenceCount(b, 'silero_vad')).toBe(before + probs.length);
    const direct = await vadByHand(b.client, asReadFromPcm16(signal), rate);
    expect(maxAbsDiff(probs, direct)).toBeLessThan(1e-6);
    expect(Array.isArray(JSON.parse(texts(out.SEGMENTS.data)[0]))).toBe(true);
  });

  test('B answers vad_wav too: routed to A, whose BLS calls come back to B', async () => {
    await pollUntil('B to see A serving vad_wav', async () => listsPeer(await meshOf(b), a.peerId, ['vad_wav']), { timeoutMs: 10_000 });
    const rate = 8000;
    const signal = testSignal(0.5, rate);
    const r = await b.client.infer({ modelName: 'vad_wav', parameters: {}, inputs: [{ name: 'WAV', datatype: 'BYTES', shape: [1], data: [wavPcm16(signal, rate)] }] }, { binaryInputs: true, binaryOutputs: true });
    const probs = r.outputs.find((o) => o.name === 'PROBABILITIES')!.data as Float32Array;
    expect(maxAbsDiff(probs, await vadByHand(b.client, asReadFromPcm16(signal), rate))).toBeLessThan(1e-6);
  });
});
