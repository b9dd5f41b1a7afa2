/**
 * The gRPC endpoint's life around requests: client cancellation and deadlines cancel the
 * queued request (Triton issue #7532), health SERVING/NOT_SERVING following readiness (a model
 * that failed to load, a drain), graceful shutdown answering what was received, and the CLI
 * flags (`--grpc-port`, `--allow-grpc`) on a real process.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferRequest } from '../../protocol/infer.ts';
import { parseServeArgs } from '../../node-host/cli.ts';
import { KServeGrpcServer } from '../../node-host/grpc-server.ts';
import { silentLogger } from '../../core/logger.ts';
import { EXAMPLES, startTestServer, type TestServer } from '../support/test-server.ts';
import { spawnServer, type ServerProcess } from '../support/spawn-server.ts';
import { createGrpcClient, expectGrpcError, grpcStatus, type GrpcClient } from '../support/grpc-client.ts';

/** Batch delay of the `slow` model: a lone request waits this long in the queue. */
const SLOW_DELAY_MS = 2000;

/** Batch delay of the `held` model (the stream limit test: short, so its rounds pass quickly). */
const HELD_DELAY_MS = 400;

const slowConfig = (name: string, delayMs: number) => `
name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "INPUT0" data_type: TYPE_INT32 dims: [ 16 ] }, { name: "INPUT1" data_type: TYPE_INT32 dims: [ 16 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_INT32 dims: [ 16 ] }, { name: "OUTPUT1" data_type: TYPE_INT32 dims: [ 16 ] } ]
dynamic_batching { preferred_batch_size: [ 8 ] max_queue_delay_microseconds: ${delayMs * 1000} }
instance_group [ { count: 1 kind: KIND_CPU } ]
`;

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A repository with `simple`, `slow` (simple behind a long batch delay) and optionally a broken model. */
function makeRepo(withBroken = false): string {
  const repo = mkdtempSync(join(tmpdir(), 'infermesh-grpc-life-'));
  dirs.push(repo);
  cpSync(join(EXAMPLES, 'simple'), join(repo, 'simple'), { recursive: true });
  for (const [name, delayMs] of [['slow', SLOW_DELAY_MS], ['held', HELD_DELAY_MS]] as const) {
    cpSync(join(EXAMPLES, 'simple'), join(repo, name), { recursive: true });
    writeFileSync(join(repo, name, 'config.pbtxt'), slowConfig(name, delayMs));
  }
  if (withBroken) {
    mkdirSync(join(repo, 'broken', '1'), { recursive: true });
    writeFileSync(join(repo, 'broken', '1', 'model.onnx'), 'this is not an ONNX model');
  }
  return repo;
}

function request(model = 'slow', id?: string): InferRequest {
  return {
    modelName: model, parameters: {}, ...(id ? { id } : {}),
    inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, datatype: 'INT32' as const, shape: [1, 16], data: Int32Array.from({ length: 16 }, (_, i) => i) })),
  };
}

/** Polls `cond` every 10 ms until it holds; fails after `timeoutMs`. */
async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('cancellation and deadlines reach the queued request', () => {
  let s: TestServer;
  let c: GrpcClient;
  beforeAll(async () => {
    s = await startTestServer({ repositories: [makeRepo()] });
    c = createGrpcClient(s.grpcUrl);
  });
  afterAll(async () => {
    c?.close();
    await s?.stop();
  });

  const failures = async () => (await c.modelStatistics('slow')).model_stats[0].inference_stats.fail.count;

  test('a client that cancels its call cancels the queued request at once', async () => {
    const before = await failures();
    const ac = new AbortController();
    const call = c.infer(request(), { signal: ac.signal });
    await waitFor(() => s.handle.core.inflight === 1, 5000, 'request queued');
    const t0 = Date.now();
    ac.abort();
    await expectGrpcError(call, grpcStatus.CANCELLED);
    await waitFor(() => s.handle.core.inflight === 0, SLOW_DELAY_MS / 2, 'request left the queue');
    expect(Date.now() - t0).toBeLessThan(SLOW_DELAY_MS / 2);
    expect(await failures()).toBe(before + 1);
  });

  test('a deadline that passes is DEADLINE_EXCEEDED for the client and cancels the queued request', async () => {
    const t0 = Date.now();
    await expectGrpcError(c.infer(request(), { deadlineMs: 300 }), grpcStatus.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    await waitFor(() => s.handle.core.inflight === 0, SLOW_DELAY_MS / 2, 'request left the queue');
    expect(Date.now() - t0).toBeLessThan(SLOW_DELAY_MS);
    // a deadline long enough is no problem
    const ok = await c.infer(request('simple'), { deadlineMs: 5000 });
    expect(ok.outputs).toHaveLength(2);
  });

  test('cancelling a stream cancels its pending requests', async () => {
    const st = c.stream();
    st.send(request('slow', 'a'));
    st.send(request('slow', 'b'));
    await waitFor(() => s.handle.core.inflight === 2, 5000, 'both requests queued');
    st.cancel();
    expect((await st.done).code).toBe(grpcStatus.CANCELLED);
    await waitFor(() => s.handle.core.inflight === 0, SLOW_DELAY_MS / 2, 'stream requests left the queue');
  });

  test('with triton_grpc_error, a failing request ends the stream and cancels its other queued requests', async () => {
    const before = await failures();
    const st = c.stream({ metadata: { triton_grpc_error: 'true' } });
    st.send(request('slow', 'queued'));
    await waitFor(() => s.handle.core.inflight === 1, 5000, 'request queued');
    const t0 = Date.now();
    st.send(request('nope', 'bad'));
    const done = await st.done;
    expect(done.code).toBe(grpcStatus.NOT_FOUND);
    // no one reads the queued request's answer any more: it leaves the queue at once
    await waitFor(() => s.handle.core.inflight === 0, SLOW_DELAY_MS / 2, 'queued request cancelled');
    expect(Date.now() - t0).toBeLessThan(SLOW_DELAY_MS / 2);
    expect(await failures()).toBe(before + 1);
  });
});

describe('a stream with many requests in flight', () => {
  const LIMIT = 3;
  let s: TestServer;
  let g: KServeGrpcServer;
  let c: GrpcClient;
  beforeAll(async () => {
    s = await startTestServer({ repositories: [makeRepo()] });
    // a second endpoint on the same core, with a small per-stream limit
    g = new KServeGrpcServer(s.handle.core, { host: '127.0.0.1', port: 0, maxStreamPending: LIMIT, logger: silentLogger });
    c = createGrpcClient(`127.0.0.1:${(await g.listen()).port}`);
  });
  afterAll(async () => {
    c?.close();
    g?.close();
    await s?.stop();
  });

  test('reading pauses at maxStreamPending requests in flight and resumes below it; every request is answered', async () => {
    const n = 7;
    const st = c.stream();
    let most = 0;
    const sampler = setInterval(() => { most = Math.max(most, s.handle.core.inflight); }, 5);
    try {
      for (let i = 0; i < n; i++) st.send(request('held', `r${i}`));
      // `held` waits HELD_DELAY_MS for a full batch: without the limit all 7 would sit in its queue
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = await st.next();
        expect(r.error, r.id).toBeUndefined();
        ids.push(r.id);
      }
      expect(most).toBe(LIMIT);
      expect(ids).toEqual(Array.from({ length: n }, (_, i) => `r${i}`));
    } finally {
      clearInterval(sampler);
    }
    st.end();
    expect((await st.done).code).toBe(grpcStatus.OK);
  });
});

describe('health follows readiness', () => {
  let s: TestServer;
  let c: GrpcClient;
  beforeAll(async () => {
    s = await startTestServer({ repositories: [makeRepo(true)], controlMode: 'explicit', loadModels: ['simple'] });
    c = createGrpcClient(s.grpcUrl);
  });
  afterAll(async () => {
    c?.close();
    await s?.stop();
  });

  test('SERVING while ready; a model that fails to load makes it NOT_SERVING (strict readiness) until unloaded', async () => {
    expect(await c.healthCheck()).toBe('SERVING');
    expect(await c.serverReady()).toBe(true);
    const watch = c.healthWatch();
    expect(await watch.next()).toBe('SERVING');
    await expectGrpcError(c.loadModel('broken'), grpcStatus.INVALID_ARGUMENT, 'broken');
    expect(await c.serverReady()).toBe(false);
    expect(await c.healthCheck()).toBe('NOT_SERVING');
    expect(await c.healthCheck('inference.GRPCInferenceService')).toBe('NOT_SERVING');
    expect(await watch.next(3000)).toBe('NOT_SERVING');
    expect(await c.modelReady('broken')).toBe(false);
    await c.unloadModel('broken');
    expect(await c.healthCheck()).toBe('SERVING');
    expect(await watch.next(3000)).toBe('SERVING');
    watch.cancel();
  });

  test('ModelReady follows load and unload', async () => {
    expect(await c.modelReady('slow')).toBe(false);
    await c.loadModel('slow');
    expect(await c.modelReady('slow')).toBe(true);
    await c.unloadModel('slow');
    expect(await c.modelReady('slow')).toBe(false);
    await expectGrpcError(c.infer(request('slow')), grpcStatus.NOT_FOUND, "'slow' has no available versions");
  });
});

describe('graceful shutdown', () => {
  test('readiness turns false at once, requests already sent are answered, idle streams end OK, then the port closes', async () => {
    const s = await startTestServer({ repositories: [makeRepo()] });
    const c = createGrpcClient(s.grpcUrl);
    try {
      const watch = c.healthWatch();
      expect(await watch.next()).toBe('SERVING');
      const idle = c.stream();
      const inflight = c.infer(request('slow', 'queued'));
      await waitFor(() => s.handle.core.inflight === 1, 5000, 'request queued');
      const stopped = s.stop();
      expect(await watch.next(2000)).toBe('NOT_SERVING');
      expect(await c.serverReady()).toBe(false);
      expect(await c.serverLive()).toBe(true);
      // a request that arrives during the drain is still answered
      const late = c.infer(request('simple', 'late'));
      expect((await late).id).toBe('late');
      const answered = await inflight;
      expect(answered.id).toBe('queued');
      expect(await idle.done).toEqual({ code: grpcStatus.OK, details: 'OK' });
      await stopped;
      await expectGrpcError(c.serverLive({ deadlineMs: 2000 }), grpcStatus.UNAVAILABLE);
    } finally {
      c.close();
      await s.stop();
    }
  });
});

describe('command line', () => {
  test('gRPC is on by default on Triton\'s port 8001; --grpc-port picks another, --allow-grpc false turns it off', () => {
    expect(parseServeArgs(['--model-repository', 'x']).grpcPort).toBe(8001);
    expect(parseServeArgs(['--model-repository', 'x', '--grpc-port', '0']).grpcPort).toBe(0);
    expect(parseServeArgs(['--model-repository', 'x', '--allow-grpc', 'false', '--grpc-port', '9']).grpcPort).toBeUndefined();
    expect(() => parseServeArgs(['--model-repository', 'x', '--allow-grpc', 'maybe'])).toThrow("--allow-grpc must be true or false, got 'maybe'");
  });

  let proc: ServerProcess | undefined;
  afterAll(() => { proc?.child.kill('SIGKILL'); });

  test('a real process prints its gRPC address, serves on it, and a second one on the same port exits with a clear error', async () => {
    const repo = makeRepo();
    proc = await spawnServer(['--model-repository', repo, '--http-port', '0', '--grpc-port', '0', '--allow-metrics', 'false', '--host', '127.0.0.1', '--no-mesh']);
    expect(proc.grpcUrl).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(proc.log()).toContain('gRPC service listening');
    const c = createGrpcClient(proc.grpcUrl!);
    try {
      expect((await c.infer(request('simple', 'cli'))).id).toBe('cli');
      expect(await c.healthCheck()).toBe('SERVING');
    } finally {
      c.close();
    }
    const port = proc.grpcUrl!.split(':')[1];
    await expect(spawnServer(['--model-repository', repo, '--http-port', '0', '--grpc-port', port, '--allow-metrics', 'false', '--host', '127.0.0.1', '--no-mesh']))
      .rejects.toThrow(/exited \(1\)[\s\S]*gRPC cannot listen on 127\.0\.0\.1:\d+/);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    const off = await spawnServer(['--model-repository', repo, '--http-port', '0', '--allow-grpc', 'false', '--allow-metrics', 'false', '--host', '127.0.0.1', '--no-mesh']);
    try {
      expect(off.grpcUrl).toBeUndefined();
      expect(off.log()).not.toContain('gRPC service listening');
    } finally {
      off.child.kill('SIGKILL');
    }
  }, 60_000);
});
