/**
 * An ensemble whose steps sit on two different hosts gives the same answer as a local one.
 * Two real `infermesh serve` processes on loopback libp2p, each with its own repository:
 * host A serves `ensemble_add_mlp` with its first steps (simple, mlp_preprocess), host B only
 * `dense_mlp`. A's ensemble reaches dense_mlp on B through the mesh router (MeshService sets
 * the server's model caller); the answers are compared with a single in-process host serving
 * everything.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';
import { addMlpByHand, addMlpInputs, maxAbsDiff, MLP_TOLERANCE } from '../support/ensemble-examples.ts';
import { HostGroup, listsPeer, meshOf, pollUntil, summarize, type MeshHost } from '../support/mesh-hosts.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const ENSEMBLE = 'ensemble_add_mlp';
const request = (seed: number): InferRequest => ({ modelName: ENSEMBLE, parameters: {}, inputs: addMlpInputs(seed) });

/** Checks that two answers of ensemble_add_mlp agree: INT32 outputs exactly, FP32 within the GEMM tolerance. */
function expectSameAnswer(got: InferResponse, want: InferResponse): void {
  expect(got.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual(want.outputs.map((o) => [o.name, o.datatype, o.shape]));
  for (const [i, o] of got.outputs.entries()) {
    if (o.datatype === 'INT32') expect([...o.data as Int32Array], o.name).toEqual([...want.outputs[i].data as Int32Array]);
    else expect(maxAbsDiff(o, want.outputs[i]), o.name).toBeLessThan(MLP_TOLERANCE);
  }
}

async function successCount(host: { httpUrl: string }, model: string): Promise<number> {
  const r = await fetch(`${host.httpUrl}/v2/models/${model}/stats`, { signal: AbortSignal.timeout(2_000) });
  const j = await r.json() as { model_stats: { inference_stats: { success: { count: number } } }[] };
  return j.model_stats.reduce((n, s) => n + s.inference_stats.success.count, 0);
}

const group = new HostGroup();
let a: MeshHost;
let b: MeshHost;
let local: TestServer;

beforeAll(async () => {
  a = await group.start('A', { repo: group.makeRepo(['simple', 'mlp_preprocess', ENSEMBLE]) });
  b = await group.start('B', { repo: group.makeRepo(['dense_mlp']), bootstrap: [a.meshAddr] });
  local = await startTestServer({ repositories: [group.makeRepo(['simple', 'mlp_preprocess', 'dense_mlp', ENSEMBLE])] });
  await pollUntil('A to see B serving dense_mlp', async () => listsPeer(await meshOf(a), b.peerId, ['dense_mlp']) || summarize(await meshOf(a)) === '', { timeoutMs: 15_000 });
}, 90_000);
afterAll(async () => {
  await local?.stop();
  await group.close();
});

describe('an ensemble across two hosts', () => {
  test('A loaded the ensemble without dense_mlp and said its steps go to the mesh', async () => {
    expect(a.log()).toMatch(/model ready .*model=ensemble_add_mlp|model=ensemble_add_mlp.*model ready/);
    expect(a.log()).toMatch(/ensemble steps use models this host does not serve.*models=dense_mlp/);
    const index = (await a.client.post('/v2/repository/index', {})).json as { name: string }[];
    expect(index.map((r) => r.name).sort()).toEqual([ENSEMBLE, 'mlp_preprocess', 'simple']);
  });

  test('gives the same answer as a single host serving everything, with dense_mlp run on B', async () => {
    const onB = await successCount(b, 'dense_mlp');
    const remote = await a.client.infer(request(1), { binaryOutputs: true });
    const single = await local.client.infer(request(1), { binaryOutputs: true });
    expectSameAnswer(remote, single);
    // And both equal the pipeline run by hand on the single host.
    const byHand = await addMlpByHand(local.client, addMlpInputs(1));
    expect(maxAbsDiff(remote.outputs.find((o) => o.name === 'MLP_DIFF')!, byHand.MLP_DIFF)).toBeLessThan(MLP_TOLERANCE);
    // Both dense_mlp steps ran on B (A does not serve it).
    expect(await successCount(b, 'dense_mlp')).toBe(onB + 2);
  });

  test('concurrent requests each get their own answer', async () => {
    const seeds = Array.from({ length: 12 }, (_, i) => i + 2);
    const singles = await Promise.all(seeds.map((s) => local.client.infer(request(s), { binaryOutputs: true })));
    const remotes = await Promise.all(seeds.map((s) => a.client.infer(request(s), { binaryOutputs: true })));
    remotes.forEach((r, i) => expectSameAnswer(r, singles[i]));
  });

  test('B, which does not serve the ensemble, answers it too (routed to A, whose steps come back to B)', async () => {
    await pollUntil('B to see A serving the ensemble', async () => listsPeer(await meshOf(b), a.peerId, [ENSEMBLE]), { timeoutMs: 10_000 });
    const viaB = await b.client.infer(request(3), { binaryOutputs: true });
    expectSameAnswer(viaB, await local.client.infer(request(3), { binaryOutputs: true }));
  });

  test('when B goes away, the dense_mlp steps fail with 503 naming the step; other outputs still work', async () => {
    b.child.kill('SIGKILL');
    await b.exited;
    const { value } = await pollUntil('A to fail the ensemble with 503', async () => {
      const r = await a.client.inferRaw(request(4));
      return r.status === 503 ? (r.json as { error: string }).error : undefined;
    }, { timeoutMs: 20_000, intervalMs: 250 });
    // A's HTTP request goes through its router too, which wraps the ensemble's error; it names the step.
    expect(value).toMatch(/ensemble 'ensemble_add_mlp' step [34] \('dense_mlp'\)(: Request for unknown model| failed: no host could serve model 'dense_mlp')/);
    const partial = await a.client.infer({ ...request(4), outputs: [{ name: 'SUM' }, { name: 'DIFF' }] });
    expect(partial.outputs.map((o) => o.name)).toEqual(['SUM', 'DIFF']);
  });
});
