/**
 * Poll model control (Triton's --model-control-mode poll, COMPAT-NOTES §4.2) on a real server
 * with real onnxruntime-node: while a stream of requests runs at concurrency 8, the repository
 * changes under it — a new version folder, a changed config.pbtxt, a replaced model file, a
 * broken then fixed version, a removed version — and not one request fails; later requests are
 * answered by the new version (each version's model adds a different constant, so the answer
 * itself says which version computed it, besides `model_version`). A removed model is unloaded
 * only after the requests it accepted have completed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, startTestServer, type TestServer } from '../support/test-server.ts';
import { pollUntil } from '../support/mesh-hosts.ts';
import { addConstConfig, inferAdd, requestStream, TempRepo, type AddAnswer } from '../support/versioned-models.ts';

/** Poll interval of the server under test (fractional seconds are accepted by the core). */
const POLL_SECONDS = 0.2;
const CONCURRENCY = 8;

let repo: TempRepo;
let s: TestServer;
beforeAll(async () => {
  repo = new TempRepo('infermesh-poll-');
  repo.writeConfig('m', addConstConfig('m'));
  repo.addVersion('m', 1, 100);
  cpSync(join(EXAMPLES, 'dense_mlp'), join(repo.dir, 'dense_mlp'), { recursive: true });
  s = await startTestServer({ repositories: [repo.dir], controlMode: 'poll', pollSeconds: POLL_SECONDS });
});
afterAll(async () => {
  await s?.stop();
  repo?.remove();
});

type IndexRow = { name: string; version?: string; state?: string; reason?: string };
const index = async () => (await s.client.post('/v2/repository/index')).json as IndexRow[];
const stateOf = async (model: string, version: string) => (await index()).find((r) => r.name === model && r.version === version);

/**
 * Runs a request stream against `m` (unversioned), applies `change` once the stream is going,
 * waits until `applied` holds, lets the stream run 100 more requests, and returns every answer.
 */
async function underLoad(change: () => void, applied: (answers: AddAnswer[]) => boolean | Promise<boolean>): Promise<AddAnswer[]> {
  const stream = requestStream((i) => inferAdd(s.client, 'm', i % 50), CONCURRENCY);
  try {
    await pollUntil('the stream to run', () => stream.answers.length >= 40, { timeoutMs: 10_000 });
    change();
    await pollUntil('the change to take effect', () => applied(stream.answers), { timeoutMs: 20_000 });
    const seen = stream.answers.length;
    await pollUntil('more answers after the change', () => stream.answers.length >= seen + 100, { timeoutMs: 10_000 });
  } finally {
    await stream.stop();
  }
  return stream.answers;
}

/** The last `n` answers all satisfy `p` (and there are that many). */
const lastAll = (answers: AddAnswer[], n: number, p: (a: AddAnswer) => boolean) => answers.length >= n && answers.slice(-n).every(p);

/** Every answer succeeded and carries the constant of the version that claims it. */
function expectAllServed(answers: AddAnswer[], allowed: [version: string, k: number][]): void {
  const failed = answers.filter((a) => a.status !== 200);
  expect(failed.slice(0, 3), `${failed.length} of ${answers.length} requests failed`).toEqual([]);
  const bad = answers.filter((a) => !allowed.some(([v, k]) => a.version === v && a.k === k));
  expect(bad.slice(0, 3), `${bad.length} answers from an unexpected version/constant`).toEqual([]);
}

describe('poll model control under a continuous request stream', () => {
  test('a new version folder is picked up; the old version serves until then and drains', async () => {
    expect((await inferAdd(s.client, 'm', 1)).version).toBe('1');
    const answers = await underLoad(() => repo.addVersion('m', 2, 200), (a) => lastAll(a, CONCURRENCY * 3, (x) => x.version === '2'));
    expectAllServed(answers, [['1', 100], ['2', 200]]);
    expect(answers.filter((a) => a.version === '1').length).toBeGreaterThan(0);
    expect(lastAll(answers, 100, (a) => a.version === '2')).toBe(true);
    // latest { num_versions: 1 } (the default): version 1 was retired once version 2 was READY.
    await pollUntil('version 1 unloaded', async () => (await stateOf('m', '1'))?.reason === 'unloaded', { timeoutMs: 5_000 });
    expect(await stateOf('m', '2')).toEqual({ name: 'm', version: '2', state: 'READY' });
    expect(await inferAdd(s.client, 'm', 1, '1')).toMatchObject({ status: 503, error: "Request for unknown model: 'm' version 1 is not at ready state" });
  });

  test('a changed config.pbtxt reloads the model (max_batch_size 8 → 2) without failing a request', async () => {
    const big = { inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP32', data: Array(12).fill(1) }] };
    expect((await s.client.post('/v2/models/m/infer', big)).status).toBe(200);
    const maxBatch = async () => ((await s.client.get('/v2/models/m/config')).json as { max_batch_size: number }).max_batch_size;
    const answers = await underLoad(() => repo.writeConfig('m', addConstConfig('m', { maxBatch: 2 })), async () => (await maxBatch()) === 2);
    expectAllServed(answers, [['2', 200]]);
    const refused = await s.client.post('/v2/models/m/infer', big);
    expect(refused.status).toBe(400);
    expect((refused.json as { error: string }).error).toBe("inference request batch-size must be <= 2 for 'm'");
  });

  test('a replaced model file reloads that version in place', async () => {
    const answers = await underLoad(() => repo.replaceVersion('m', 2, 300), (a) => lastAll(a, CONCURRENCY * 3, (x) => x.k === 300));
    expectAllServed(answers, [['2', 200], ['2', 300]]);
    expect(lastAll(answers, 100, (a) => a.k === 300)).toBe(true);
  });

  test('a version that fails to load keeps the old one serving; fixed on disk, it loads at a later poll', async () => {
    let failedRow: IndexRow | undefined;
    const broken = await underLoad(
      () => repo.addVersion('m', 3, new TextEncoder().encode('not an onnx model')),
      async () => {
        failedRow = await stateOf('m', '3');
        return failedRow?.state === 'UNAVAILABLE';
      },
    );
    expectAllServed(broken, [['2', 300]]);
    // The load error is the reason (each poll retries the failed version, as Triton does).
    expect(failedRow?.reason).toMatch(/\S/);
    expect(await stateOf('m', '2')).toEqual({ name: 'm', version: '2', state: 'READY' });

    const fixed = await underLoad(() => repo.replaceVersion('m', 3, 400), (a) => lastAll(a, CONCURRENCY * 3, (x) => x.version === '3'));
    expectAllServed(fixed, [['2', 300], ['3', 400]]);
    await pollUntil('version 2 retired', async () => (await stateOf('m', '2'))?.reason === 'unloaded', { timeoutMs: 5_000 });
  });

  test('a removed version folder retires it; the policy then selects the previous one again', async () => {
    // First a failed reload of version 3 (its file replaced by junk: the loaded one keeps
    // serving), so the removal below also covers a version whose last load failed.
    writeFileSync(join(repo.dir, 'm', '3', '.junk'), 'junk');
    renameSync(join(repo.dir, 'm', '3', '.junk'), join(repo.dir, 'm', '3', 'model.onnx'));
    await new Promise((r) => setTimeout(r, POLL_SECONDS * 1000 * 5));
    expect(await inferAdd(s.client, 'm', 0)).toEqual({ status: 200, version: '3', k: 400 });
    const answers = await underLoad(() => repo.removeVersion('m', 3), (a) => lastAll(a, CONCURRENCY * 3, (x) => x.version === '2'));
    expectAllServed(answers, [['2', 300], ['3', 400]]);
    await pollUntil('version 3 unloaded', async () => (await stateOf('m', '3'))?.reason === 'unloaded', { timeoutMs: 5_000 });
  });

  test('an unchanged repository reloads nothing', async () => {
    const before = JSON.stringify(await index());
    const stats = async () => ((await s.client.get('/v2/models/m/stats')).json as { model_stats: { inference_count: number }[] }).model_stats[0].inference_count;
    const count = await stats();
    expect(count).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, POLL_SECONDS * 1000 * 5));
    expect(JSON.stringify(await index())).toBe(before);
    // A reload would have replaced the version, statistics included.
    expect(await stats()).toBe(count);
  });
});

describe('poll model control: a removed model', () => {
  test('is unloaded only after the requests it accepted have completed', async () => {
    const meta = (await s.client.get('/v2/models/dense_mlp')).json as { inputs: { name: string; shape: number[] }[] };
    const width = meta.inputs[0].shape[1];
    const req = { modelName: 'dense_mlp', parameters: {}, inputs: [{ name: meta.inputs[0].name, shape: [32, width], datatype: 'FP32' as const, data: new Float32Array(32 * width).fill(0.25) }] };
    // Enough queued work (about 5 ms per batch of 32 on two cores) that the unload starts while
    // much of it still waits; binary bodies so that every request reaches the server quickly.
    const N = 100;
    let pending = 0;
    let pendingWhenUnloading = -1;
    const inflight = Array.from({ length: N }, () => {
      pending++;
      return s.client.inferRaw(req, { binaryInputs: true }).then((r) => { pending--; return r.status; });
    });
    // Every request is inside the server (queued or running) before the folder goes.
    await pollUntil('all requests received', () => s.handle.core.inflight === pending && pending > 0, { timeoutMs: 10_000, intervalMs: 1 });
    repo.removeModel('dense_mlp');
    await pollUntil('the unload to start', async () => {
      const rows = (await index()).filter((r) => r.name === 'dense_mlp');
      if (!rows.some((r) => r.state === 'UNLOADING' || r.reason === 'unloaded')) return false;
      pendingWhenUnloading = pending;
      return true;
    }, { timeoutMs: 10_000, intervalMs: 10 });
    const statuses = await Promise.all(inflight);
    expect(statuses).toEqual(statuses.map(() => 200));
    // The unload began while accepted requests were unanswered, and every one completed.
    expect(pendingWhenUnloading).toBeGreaterThan(0);
    await pollUntil('dense_mlp unloaded', async () => (await index()).some((r) => r.name === 'dense_mlp' && r.reason === 'unloaded'), { timeoutMs: 10_000 });
    expect((await s.client.inferRaw(req, { binaryInputs: true })).status).toBe(404);
  });
});
