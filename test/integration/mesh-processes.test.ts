/**
 * Real multi-process meshes on 127.0.0.1: every host is its own `infermesh serve` process with
 * its own temporary model repository, observed only from outside (HTTP, `/v2/mesh`,
 * `/metrics`, signals). Covers joining through one bootstrap host and routing to models only
 * peers serve, failover when a serving host is SIGKILLed mid-load, the private network (swarm
 * key), the peer allowlist, expiry of a silent (SIGSTOPped) peer, and a queue-full refusal
 * going to the other host. Timings follow the defaults: status every 1 s, reports expire after
 * 3 intervals + 500 ms (mesh/peer-directory.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { join } from 'node:path';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';
import type { Tensor } from '../../protocol/tensor.ts';
import {
  advertisesThroughput, HostGroup, keygen, keygenIdentity, listsPeer, meshOf, metricValue, peerIn, pollUntil, holdsFor, summarize,
  type MeshHost, type MeshView,
} from '../support/mesh-hosts.ts';

/** Status interval and report expiry the hosts run with (serve.ts / peer-directory.ts defaults). */
const STATUS_INTERVAL_MS = 1_000;
const EXPIRE_AFTER_MS = 3 * STATUS_INTERVAL_MS + 500;

/** `simple`: OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 − INPUT1 (INT32, [-1, 16]). */
function simpleRequest(): InferRequest {
  const a = Int32Array.from({ length: 32 }, (_, i) => i * 5 - 40);
  const b = Int32Array.from({ length: 32 }, (_, i) => 1000 - i * 3);
  return {
    modelName: 'simple', parameters: {}, inputs: [
      { name: 'INPUT0', datatype: 'INT32', shape: [2, 16], data: a },
      { name: 'INPUT1', datatype: 'INT32', shape: [2, 16], data: b },
    ],
  };
}

/** A response as plain data (typed arrays to arrays), for comparing answers from different hosts. */
function plain(r: InferResponse): unknown {
  const t = (o: Tensor) => ({ name: o.name, datatype: o.datatype, shape: [...o.shape], data: Array.from(o.data as ArrayLike<number>) });
  return { modelName: r.modelName, modelVersion: r.modelVersion, outputs: [...r.outputs].sort((x, y) => (x.name < y.name ? -1 : 1)).map(t) };
}

/** `autocomplete_add` request number `i`: distinct inputs whose FP32 sum is exact. */
function addBody(i: number): { body: string; expected: number[] } {
  const x = [i, 2 * i, -i, 0.5];
  const y = [1, -3, 2 * i, i];
  return {
    body: JSON.stringify({ inputs: [
      { name: 'x', shape: [1, 4], datatype: 'FP32', data: x },
      { name: 'y', shape: [1, 4], datatype: 'FP32', data: y },
    ] }),
    expected: x.map((v, k) => v + y[k]),
  };
}

/** `inference_count` of a model in `GET /v2/models/<m>/stats`. */
async function inferenceCount(host: MeshHost, model: string): Promise<number> {
  const r = await fetch(`${host.httpUrl}/v2/models/${model}/stats`, { signal: AbortSignal.timeout(2_000) });
  const j = await r.json() as { model_stats: { inference_count: number }[] };
  return j.model_stats.reduce((n, s) => n + s.inference_count, 0);
}

async function metrics(host: MeshHost): Promise<string> {
  return (await fetch(host.metricsUrl!, { signal: AbortSignal.timeout(2_000) })).text();
}

/** Runs `n` jobs with at most `concurrency` at a time; `onDone` sees the count of finished jobs. */
async function runPool(n: number, concurrency: number, job: (i: number) => Promise<void>, onDone?: (done: number) => void): Promise<void> {
  let next = 0;
  let done = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      await job(i);
      onDone?.(++done);
    }
  }));
}

/** Does `view` list `peerId` at all (with or without a report)? */
const sees = (view: MeshView, peerId: string) => peerIn(view, peerId) !== undefined;

describe('three hosts joined through one bootstrap host', () => {
  const group = new HostGroup();
  let a: MeshHost;
  let b: MeshHost;
  let c: MeshHost;
  afterAll(() => group.close());

  beforeAll(async () => {
    a = await group.start('A', { repo: group.makeRepo(['simple']) });
    [b, c] = await Promise.all([
      group.start('B', { repo: group.makeRepo(['autocomplete_add']), bootstrap: [a.meshAddr] }),
      group.start('C', { repo: group.makeRepo([]), bootstrap: [a.meshAddr] }),
    ]);
  });

  test('every host lists the two others with their models within 2 s; C and B route `simple` to A', async () => {
    // Polled right after the last host started listening.
    const { value: views } = await pollUntil('every host to list the two others with their models', async () => {
      const [va, vb, vc] = await Promise.all([meshOf(a), meshOf(b), meshOf(c)]);
      const ok = listsPeer(va, b.peerId, ['autocomplete_add']) && listsPeer(va, c.peerId)
        && listsPeer(vb, a.peerId, ['simple']) && listsPeer(vb, c.peerId)
        && listsPeer(vc, a.peerId, ['simple']) && listsPeer(vc, b.peerId, ['autocomplete_add']);
      return ok && { va, vb, vc };
    }, { timeoutMs: 2_000 });
    for (const [v, self] of [[views.va, a], [views.vb, b], [views.vc, c]] as const) {
      expect(v.peer_id).toBe(self.peerId);
      expect(v.peers.map((p) => p.peer_id).sort()).toEqual([a, b, c].filter((h) => h !== self).map((h) => h.peerId).sort());
    }
    expect(peerIn(views.vc, a.peerId)!.models.map((m) => [m.name, m.versions])).toEqual([['simple', ['1']]]);
    expect(peerIn(views.va, c.peerId)!.models).toEqual([]);

    // Same answer from A itself and through B and C, JSON and binary tensors.
    const req = simpleRequest();
    for (const mode of [{}, { binaryInputs: true, binaryOutputs: true }]) {
      const local = await a.client.infer(req, mode);
      const out0 = local.outputs.find((o) => o.name === 'OUTPUT0')!;
      const out1 = local.outputs.find((o) => o.name === 'OUTPUT1')!;
      expect(Array.from(out0.data as Int32Array)).toEqual(Array.from(req.inputs[0].data as Int32Array, (x, k) => x + (req.inputs[1].data as Int32Array)[k]));
      expect(Array.from(out1.data as Int32Array)).toEqual(Array.from(req.inputs[0].data as Int32Array, (x, k) => x - (req.inputs[1].data as Int32Array)[k]));
      expect(plain(await c.client.infer(req, mode))).toEqual(plain(local));
      expect(plain(await b.client.infer(req, mode))).toEqual(plain(local));
    }
    // C served nothing itself: its router sent them to A.
    expect(metricValue(await metrics(c), 'infermesh_mesh_routed_requests_total', '{outcome="remote"}')).toBe(2);

    // Metadata and readiness of a model only a peer serves.
    const metaA = await a.client.get('/v2/models/simple');
    const metaC = await c.client.get('/v2/models/simple');
    expect(metaC.status).toBe(200);
    expect(metaC.json).toEqual(metaA.json);
    expect((await c.client.get('/v2/models/simple/ready')).status).toBe(200);
    expect((await c.client.get('/v2/models/simple/versions/1/ready')).status).toBe(200);

    // A model nobody serves: Triton's 404 with {"error": …}.
    const unknown = await c.client.post('/v2/models/no_such_model/infer', { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({ error: expect.stringMatching(/unknown model.*'no_such_model'/) });
  });

  test('a silent (SIGSTOPped) peer expires from the others\' directories, and returns after SIGCONT', async () => {
    await pollUntil('A and C to list B with its model', async () =>
      listsPeer(await meshOf(a), b.peerId, ['autocomplete_add']) && listsPeer(await meshOf(c), b.peerId, ['autocomplete_add']), { timeoutMs: 5_000 });
    const dropped = (v: MeshView) => { const p = peerIn(v, b.peerId); return p === undefined || p.models.length === 0; };
    // How old B's last report is on each host when B goes silent.
    const ages = await Promise.all([a, c].map(async (h) => peerIn(await meshOf(h), b.peerId)!.age_ms!));
    b.child.kill('SIGSTOP');
    try {
      // Expiry is checked by a sweep every interval: gone at most EXPIRE_AFTER_MS + one interval
      // after the last report (plus slack for a loaded machine).
      const [onA, onC] = await Promise.all([a, c].map((h) => pollUntil(`${h.name} to drop B (or its models)`, async () =>
        dropped(await meshOf(h)), { timeoutMs: EXPIRE_AFTER_MS + STATUS_INTERVAL_MS + 1_000, intervalMs: 100 })));
      // …and not before the report's age reached the expiry window: it is the directory that expired it.
      expect(onA.ms).toBeGreaterThan(EXPIRE_AFTER_MS - ages[0] - 150);
      expect(onC.ms).toBeGreaterThan(EXPIRE_AFTER_MS - ages[1] - 150);
      // Nothing is routed to the frozen peer any more: C answers at once that nobody serves it.
      const r = await c.client.post('/v2/models/autocomplete_add/infer', JSON.parse(addBody(1).body));
      expect(r.status).toBe(404);
    } finally {
      b.child.kill('SIGCONT');
    }
    await pollUntil('A and C to list B with its model again', async () =>
      listsPeer(await meshOf(a), b.peerId, ['autocomplete_add']) && listsPeer(await meshOf(c), b.peerId, ['autocomplete_add']), { timeoutMs: 5_000 });
    const r = await c.client.post('/v2/models/autocomplete_add/infer', JSON.parse(addBody(3).body));
    expect(r.status).toBe(200);
    expect((r.json as { outputs: { data: number[] }[] }).outputs[0].data).toEqual(addBody(3).expected);
  });
});

describe('failover when a serving host is SIGKILLed under load', () => {
  const group = new HostGroup();
  afterAll(() => group.close());

  test('1,000 requests at concurrency 32 through C: none lost, none hung, all correct', { timeout: 40_000 }, async () => {
    const a = await group.start('A', { repo: group.makeRepo(['autocomplete_add']) });
    const [b, c] = await Promise.all([
      group.start('B', { repo: group.makeRepo(['autocomplete_add']), bootstrap: [a.meshAddr] }),
      group.start('C', { repo: group.makeRepo([]), bootstrap: [a.meshAddr] }),
    ]);
    // Warm both up directly, so that both advertise a measured throughput and C's router sends
    // each a share (it does not send to a peer that never ran the model while another has).
    for (const h of [a, b]) {
      const r = await h.client.post('/v2/models/autocomplete_add/infer', JSON.parse(addBody(-1).body));
      expect(r.status).toBe(200);
    }
    await pollUntil('C to see A and B advertise a throughput for autocomplete_add', async () => {
      const v = await meshOf(c);
      if (!advertisesThroughput(v, a.peerId, 'autocomplete_add') || !advertisesThroughput(v, b.peerId, 'autocomplete_add')) throw new Error(summarize(v));
      return true;
    }, { timeoutMs: 10_000 });
    const [aWarm, bWarm] = [await inferenceCount(a, 'autocomplete_add'), await inferenceCount(b, 'autocomplete_add')];

    const N = 1_000;
    const KILL_AT = 200;
    const failures: { i: number; status: number | string; text: string }[] = [];
    let aServedBeforeKill = -1;
    let doneAtKill = -1;
    let kill: Promise<void> | undefined;
    let completed = 0;
    const url = `${c.httpUrl}/v2/models/autocomplete_add/infer`;
    await runPool(N, 32, async (i) => {
      const { body, expected } = addBody(i);
      try {
        // Bounded: a request that hangs is recorded as such instead of stalling the test.
        const res = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(15_000) });
        const text = await res.text();
        if (res.status !== 200) { failures.push({ i, status: res.status, text }); return; }
        const data = (JSON.parse(text) as { outputs: { name: string; data: number[] }[] }).outputs.find((o) => o.name === 'sum')?.data;
        if (JSON.stringify(data) !== JSON.stringify(expected)) failures.push({ i, status: 'wrong answer', text });
      } catch (e) {
        failures.push({ i, status: (e as Error).name === 'TimeoutError' ? 'hung' : 'error', text: String(e) });
      }
    }, (done) => {
      completed = done;
      if (done === KILL_AT) {
        kill = (async () => {
          aServedBeforeKill = await inferenceCount(a, 'autocomplete_add') - aWarm;
          doneAtKill = completed;
          a.child.kill('SIGKILL');
        })();
      }
    });
    await kill;
    expect(a.child.signalCode).toBe('SIGKILL');
    // C saw the connection drop (liveness), while A's last report may still be unexpired.
    expect(peerIn(await meshOf(c), a.peerId)?.connected ?? false).toBe(false);
    // The kill happened while plenty of requests were still to come.
    expect(doneAtKill).toBeGreaterThanOrEqual(KILL_AT);
    expect(doneAtKill).toBeLessThan(N / 2);
    expect(failures.slice(0, 10)).toEqual([]);
    expect(failures.length).toBe(0);

    const m = await metrics(c);
    const retries = metricValue(m, 'infermesh_mesh_retries_total') ?? 0;
    const bServed = await inferenceCount(b, 'autocomplete_add') - bWarm;
    console.log(`failover: A served ${aServedBeforeKill} before the kill (at ${doneAtKill} done), B served ${bServed}, C retries ${retries}`);
    expect(metricValue(m, 'infermesh_mesh_routed_requests_total', '{outcome="failed"}')).toBe(0);
    expect(bServed).toBeGreaterThan(0);
    // Failover happened (retries), or at least both hosts took a share before the kill.
    expect(retries > 0 || (aServedBeforeKill > 0 && bServed > 0), `retries=${retries} A before kill=${aServedBeforeKill} B=${bServed}`).toBe(true);
    // Only requests in flight at A when it died (at most the concurrency), and the few routed
    // before C saw its connection drop, need a second attempt. A router that keeps choosing the
    // dead peer until its report expires (3.5 s) retried 300-600 of these requests.
    expect(retries, 'requests kept being routed to the dead peer first').toBeLessThanOrEqual(64);
  });
});

describe('private network (swarm key)', () => {
  const group = new HostGroup();
  afterAll(() => group.close());

  test('hosts with the same key join; another key or none never see them, and stay up', async () => {
    const dir = group.tempDir();
    const key1 = join(dir, 'key1');
    const key2 = join(dir, 'key2');
    await Promise.all([keygen(['--swarm-key', key1]), keygen(['--swarm-key', key2])]);
    const a = await group.start('A', { repo: group.makeRepo([]), swarmKey: key1 });
    // --log-verbose 1: the outsiders log each failed dial (debug), so the test can wait for one.
    const [b, c, d] = await Promise.all([
      group.start('B', { repo: group.makeRepo([]), swarmKey: key1, bootstrap: [a.meshAddr] }),
      group.start('C', { repo: group.makeRepo([]), swarmKey: key2, bootstrap: [a.meshAddr], extra: ['--log-verbose', '1'] }),
      group.start('D', { repo: group.makeRepo([]), bootstrap: [a.meshAddr], extra: ['--log-verbose', '1'] }),
    ]);
    await pollUntil('A and B to list each other', async () => listsPeer(await meshOf(a), b.peerId) && listsPeer(await meshOf(b), a.peerId), { timeoutMs: 5_000 });
    const outsiderSeen = async () => {
      const [va, vb, vc, vd] = await Promise.all([meshOf(a), meshOf(b), meshOf(c), meshOf(d)]);
      return [vc, vd].some((v) => v.peers.length > 0) || [va, vb].some((v) => sees(v, c.peerId) || sees(v, d.peerId));
    };
    // C and D dial A from the start; with the wrong key (or none) the dial fails, at worst at
    // the dial timeout (5 s, mesh-node.ts). Wait until each has seen a dial end, then watch
    // over a further window (C and D redial after 1 s).
    const first = await pollUntil('C and D to log a failed dial to A', async () => {
      if (await outsiderSeen()) return 'an outsider joined';
      return [c, d].every((h) => h.log().includes(`dial failed component=mesh-node peer=${a.peerId}`)) && 'dials ended';
    }, { timeoutMs: 6_000, intervalMs: 100 });
    expect(first.value).toBe('dials ended');
    await holdsFor('an outsider seeing A or B (or being seen)', outsiderSeen, { windowMs: 2_000 });
    for (const h of [c, d]) {
      expect(h.child.exitCode, `${h.name} exited:\n${h.log()}`).toBeNull();
      expect((await fetch(`${h.httpUrl}/v2/health/live`, { signal: AbortSignal.timeout(2_000) })).status).toBe(200);
    }
    expect(listsPeer(await meshOf(a), b.peerId)).toBe(true);
  });
});

describe('peer allowlist', () => {
  const group = new HostGroup();
  afterAll(() => group.close());

  test('only the allowed identity joins; another identity with the right key is refused', async () => {
    const dir = group.tempDir();
    const key1 = join(dir, 'key1');
    const idFile = join(dir, 'b.identity');
    const [, bId] = await Promise.all([keygen(['--swarm-key', key1]), keygenIdentity(idFile)]);
    const a = await group.start('A', { repo: group.makeRepo([]), swarmKey: key1, allowPeers: [bId] });
    const [b, e] = await Promise.all([
      group.start('B', { repo: group.makeRepo([]), swarmKey: key1, identity: idFile, bootstrap: [a.meshAddr] }),
      group.start('E', { repo: group.makeRepo([]), swarmKey: key1, bootstrap: [a.meshAddr] }),
    ]);
    expect(b.peerId).toBe(bId);
    expect(e.peerId).not.toBe(bId);
    // B (same key, same bootstrap address; only the identity differs from E) joins.
    await pollUntil('A and B to list each other', async () => listsPeer(await meshOf(a), b.peerId) && listsPeer(await meshOf(b), a.peerId), { timeoutMs: 5_000 });
    // E keeps dialing A (it is E's bootstrap peer) and A's gater refuses it after the
    // encryption handshake. Noise has already agreed on the muxer by then, so E's side sees
    // the connection open for a moment before A closes it: E may briefly list A as connected
    // (no report, no models). What must never happen: A or B listing E, or E receiving any
    // report (learning the mesh's peers or models).
    let eSawConnection = false;
    await holdsFor('E joining the mesh', async () => {
      const [va, vb, ve] = await Promise.all([meshOf(a), meshOf(b), meshOf(e)]);
      if (ve.peers.some((p) => p.connected)) eSawConnection = true;
      return sees(va, e.peerId) || sees(vb, e.peerId) || sees(ve, b.peerId)
        || ve.peers.some((p) => p.age_ms !== null || p.models.length > 0);
    }, { windowMs: 3_000, intervalMs: 50 });
    if (eSawConnection) console.log('allowlist: E briefly listed A as connected (refused after the handshake)');
    expect(e.child.exitCode).toBeNull();
    expect((await fetch(`${e.httpUrl}/v2/health/live`, { signal: AbortSignal.timeout(2_000) })).status).toBe(200);
  });
});

describe('queue-full refusal', () => {
  const group = new HostGroup();
  afterAll(() => group.close());

  /** dense_mlp's config with a queue of one request: a flood makes the host refuse (UNAVAILABLE, retryable). */
  const tinyQueue = `name: "dense_mlp"
platform: "onnxruntime_onnx"
max_batch_size: 32
input [ { name: "input" data_type: TYPE_FP32 dims: [ 512 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 512 ] } ]
dynamic_batching {
  preferred_batch_size: [ 32 ]
  max_queue_delay_microseconds: 500
  default_queue_policy { max_queue_size: 1 }
}
instance_group [ { count: 1 kind: KIND_CPU } ]
`;

  test('a host whose queue is full refuses, and the request goes to the other host', async () => {
    const a = await group.start('A', { repo: group.makeRepo(['dense_mlp'], { dense_mlp: tinyQueue }) });
    const [b, c] = await Promise.all([
      group.start('B', { repo: group.makeRepo(['dense_mlp']), bootstrap: [a.meshAddr] }),
      group.start('C', { repo: group.makeRepo([]), bootstrap: [a.meshAddr] }),
    ]);
    // A few distinct inputs, with reference answers from B itself; A, asked one at a time
    // (its queue holds one), must agree. This also warms both up: C's router sends a share to
    // each only once both advertise a measured throughput.
    const inputs = Array.from({ length: 4 }, (_, k) => Float32Array.from({ length: 512 }, (_, i) => Math.sin(i * (k + 1)) / 2));
    const req = (x: Float32Array): InferRequest => ({ modelName: 'dense_mlp', parameters: {}, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 512], data: x }] });
    const binary = { binaryInputs: true, binaryOutputs: true };
    const refs: Float32Array[] = [];
    for (const x of inputs) {
      const ref = (await b.client.infer(req(x), binary)).outputs[0].data as Float32Array;
      const fromA = (await a.client.infer(req(x), binary)).outputs[0].data as Float32Array;
      expect(Math.max(...ref.map((v, k) => Math.abs(v - fromA[k])))).toBeLessThanOrEqual(1e-4);
      refs.push(ref);
    }
    await pollUntil('C to see A and B advertise a throughput for dense_mlp', async () => {
      const v = await meshOf(c);
      if (!advertisesThroughput(v, a.peerId, 'dense_mlp') || !advertisesThroughput(v, b.peerId, 'dense_mlp')) throw new Error(summarize(v));
      return true;
    }, { timeoutMs: 10_000 });
    const [aWarm, bWarm] = [await inferenceCount(a, 'dense_mlp'), await inferenceCount(b, 'dense_mlp')];

    const N = 300;
    const failures: { i: number; why: string }[] = [];
    await runPool(N, 32, async (i) => {
      try {
        const r = await c.client.inferRaw(req(inputs[i % 4]), binary);
        if (r.status !== 200) { failures.push({ i, why: `HTTP ${r.status}: ${r.text}` }); return; }
        const hl = Number(r.headers.get('inference-header-content-length'));
        const out = new Float32Array(r.body.slice(hl).buffer);
        const ref = refs[i % 4];
        let worst = 0;
        for (let k = 0; k < ref.length; k++) worst = Math.max(worst, Math.abs(out[k] - ref[k]));
        if (out.length !== ref.length || !(worst <= 1e-4)) failures.push({ i, why: `wrong answer (max diff ${worst})` });
      } catch (e) {
        failures.push({ i, why: String(e) });
      }
    });
    expect(failures.slice(0, 10)).toEqual([]);
    const m = await metrics(c);
    const retries = metricValue(m, 'infermesh_mesh_retries_total') ?? 0;
    const [aServed, bServed] = [await inferenceCount(a, 'dense_mlp') - aWarm, await inferenceCount(b, 'dense_mlp') - bWarm];
    console.log(`queue-full: A served ${aServed}, B served ${bServed}, C retries ${retries}`);
    expect(metricValue(m, 'infermesh_mesh_routed_requests_total', '{outcome="failed"}')).toBe(0);
    expect(bServed).toBeGreaterThan(0);
    // A refused some (queue full) and C sent them to B.
    expect(retries).toBeGreaterThan(0);
  });
});
