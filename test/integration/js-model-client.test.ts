/**
 * The comlink boundary of a JS model's worker (node-host/js-model-client.ts ↔
 * js-model.worker.ts), on a real worker thread: one request of a batch cancelled alone,
 * error codes crossing both ways, a BLS call cancelled with its request, buffers the caller
 * or the model keeps not being detached by transfers, a crash failing the waiting call, and
 * an idle worker not keeping the process alive.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModelConfig } from '../../core/model-config.ts';
import { silentLogger } from '../../core/logger.ts';
import { JsWorkerClient, liveJsWorkerCount, type JsWorkerClientInit } from '../../node-host/js-model-client.ts';
import type { JsModelArgs, JsWireBlsRequest } from '../../node-host/js-model-protocol.ts';
import { InferError } from '../../protocol/errors.ts';
import type { Tensor } from '../../protocol/tensor.ts';

/** Does what its BYTES input MODE says. */
const MODEL = `
const kept = new Float32Array([1, 2, 3]);
const out = (name, data) => ({ outputs: [{ name, data }] });
export async function execute(requests, { infer }) {
  const mode = requests[0].text('MODE')[0];
  switch (mode) {
    case 'throw': throw { code: 'INVALID_ARG', message: 'bad mode' };
    case 'mixed': return [out('K', kept), { error: { code: 'NOT_FOUND', message: 'no such row' } }];
    case 'kept': return [out('K', kept)];
    case 'cancel':
      await new Promise((resolve) => { requests[1].signal.addEventListener('abort', resolve); setTimeout(resolve, 5000); });
      return requests.map((r) => out('ABORTED', new Int32Array([r.signal.aborted ? 1 : 0])));
    case 'bls-error':
      try { await infer({ model_name: 'missing', inputs: [] }); } catch (e) { return [out('E', [e.name, e.code, e.message])]; }
      return [out('E', ['no error'])];
    case 'bls-cancel':
      try { await infer({ model_name: 'slow', inputs: [{ name: 'X', data: kept }], signal: requests[0].signal }); } catch (e) { return [out('E', [e.code])]; }
      return [out('E', ['no error'])];
    case 'crash':
      setImmediate(() => { throw new Error('boom'); });
      return new Promise(() => {});
  }
}
`;

const enc = new TextEncoder();
const mode = (m: string): Tensor => ({ name: 'MODE', datatype: 'BYTES', shape: [1], data: [enc.encode(m)] });
const texts = (t: Tensor) => (t.data as Uint8Array[]).map((b) => new TextDecoder().decode(b));

let dir: string;
let url: string;
const args = (): JsModelArgs => ({
  model_config: { name: 'm', max_batch_size: 0, input: [], output: [] } as unknown as ModelConfig,
  model_name: 'm', model_version: '1', model_instance_kind: 'KIND_CPU', model_instance_name: 'm_0',
  model_instance_device_id: 0, model_repository: dir,
});
const clients: JsWorkerClient[] = [];
async function start(init: Partial<JsWorkerClientInit> = {}): Promise<JsWorkerClient> {
  const c = new JsWorkerClient({
    name: 'js test', subject: "model 'm' version 1", logger: silentLogger,
    bls: () => Promise.reject(new InferError('INTERNAL', 'no BLS in this test')), ...init,
  });
  clients.push(c);
  await c.init({ url }, args(), "model 'm' version 1");
  return c;
}
async function until(cond: () => boolean): Promise<void> {
  const end = performance.now() + 5000;
  while (!cond()) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'infermesh-js-client-'));
  writeFileSync(join(dir, 'model.mjs'), MODEL);
  url = pathToFileURL(join(dir, 'model.mjs')).href;
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('JsWorkerClient over comlink', () => {
  test('cancel(requestId) aborts only that request of a batch', async () => {
    const c = await start();
    const run = c.execute([{ inputs: [mode('cancel')], outputNames: ['ABORTED'] }, { inputs: [mode('x')], outputNames: ['ABORTED'] }]);
    c.cancel(run.requestIds[1]);
    const results = await run.answer;
    expect(results.map((r) => ('outputs' in r ? [...r.outputs[0].data as Int32Array] : r.error.message))).toEqual([[0], [1]]);
  });

  test('errors keep their codes: a thrown execution, a per-request error, a failed BLS call', async () => {
    const c = await start({ bls: () => Promise.reject(new InferError('NOT_FOUND', "model 'missing' is not ready")) });
    const thrown = await c.execute([{ inputs: [mode('throw')], outputNames: ['K'] }]).answer.catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(InferError);
    expect(thrown).toMatchObject({ code: 'INVALID_ARG', reason: 'BACKEND', message: "model 'm' version 1: execute failed: bad mode" });

    const [a, b] = await c.execute([{ inputs: [mode('mixed')], outputNames: ['K'] }, { inputs: [mode('x')], outputNames: ['K'] }]).answer;
    expect('outputs' in a && [...a.outputs[0].data as Float32Array]).toEqual([1, 2, 3]);
    expect('error' in b && b.error).toBeInstanceOf(InferError);
    expect('error' in b && { code: b.error.code, message: b.error.message }).toEqual({ code: 'NOT_FOUND', message: "model 'm' version 1: response 1: no such row" });

    const [bls] = await c.execute([{ inputs: [mode('bls-error')], outputNames: ['E'] }]).answer;
    expect('outputs' in bls && texts(bls.outputs[0])).toEqual(['InferError', 'NOT_FOUND', "model 'missing' is not ready"]);
  });

  test("a cancelled request aborts the BLS call it passed its signal to, on the server's side too", async () => {
    const calls: { request: JsWireBlsRequest; signal: AbortSignal }[] = [];
    const c = await start({
      bls: (request, signal) => new Promise((_, reject) => {
        calls.push({ request, signal });
        signal.addEventListener('abort', () => reject(signal.reason));
      }),
    });
    const run = c.execute([{ inputs: [mode('bls-cancel')], outputNames: ['E'] }]);
    await until(() => calls.length === 1);
    expect(calls[0].request).toMatchObject({ model_name: 'slow', inputs: [{ name: 'X', datatype: 'FP32', shape: [3] }] });
    expect([...calls[0].request.inputs[0].data as Float32Array]).toEqual([1, 2, 3]);
    c.cancel(run.requestIds[0]);
    const [r] = await run.answer;
    expect('outputs' in r && texts(r.outputs[0])).toEqual(['CANCELLED']);
    await until(() => calls[0].signal.aborted);
    expect(calls[0].signal.reason).toMatchObject({ code: 'CANCELLED' });
  });

  test('transfers never detach what the caller or the model keeps', async () => {
    const c = await start();
    const input = mode('kept');
    const element = (input.data as Uint8Array[])[0];
    for (let i = 0; i < 2; i++) {
      const [r] = await c.execute([{ inputs: [input], outputNames: ['K'] }]).answer;
      // The model answers the same array each time: a transfer of it would have emptied it.
      expect('outputs' in r && [...r.outputs[0].data as Float32Array]).toEqual([1, 2, 3]);
    }
    expect(element.byteLength).toBe(4);
    expect(new TextDecoder().decode(element)).toBe('kept');
  });

  test('a worker that crashes fails the waiting call UNAVAILABLE, reports its death, and refuses further calls', async () => {
    const before = liveJsWorkerCount();
    const deaths: string[] = [];
    const c = await start({ onDeath: (reason) => deaths.push(reason) });
    const crashed = await c.execute([{ inputs: [mode('crash')], outputNames: ['K'] }]).answer.catch((e: unknown) => e);
    expect(crashed).toMatchObject({ name: 'InferError', code: 'UNAVAILABLE', message: "model 'm' version 1: its JavaScript worker crashed: boom" });
    expect(deaths).toEqual(['crashed: boom']);
    expect(c.deadReason).toBe('crashed: boom');
    await expect(c.execute([{ inputs: [mode('kept')], outputNames: ['K'] }]).answer).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await c.close();
    expect(liveJsWorkerCount()).toBe(before);
  });

  test('an idle worker does not keep the process alive', () => {
    const client = pathToFileURL(join(import.meta.dirname, '../../node-host/js-model-client.ts')).href;
    const script = `
      import { JsWorkerClient } from ${JSON.stringify(client)};
      const c = new JsWorkerClient({ name: 'idle', subject: 'idle', logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } }, bls: async () => { throw new Error('none'); } });
      await c.init({ url: ${JSON.stringify(url)} }, ${JSON.stringify(args())}, 'idle');
      const [r] = await c.execute([{ inputs: [{ name: 'MODE', datatype: 'BYTES', shape: [1], data: [new TextEncoder().encode('kept')] }], outputNames: ['K'] }]).answer;
      console.log('answered', [...r.outputs[0].data].join(','));`;
    // A file, not `-e`: workers inherit the process's flags, and `--input-type` makes them fail.
    const file = join(dir, 'idle.mjs');
    writeFileSync(file, script);
    const child = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 15_000 });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('answered 1,2,3');
    // Exited by itself (spawnSync's timeout would have killed it: signal SIGTERM, status null).
    expect({ status: child.status, signal: child.signal }).toEqual({ status: 0, signal: null });
  });
});
