/**
 * Tiny ONNX models whose answer says which version computed it (`y = x + k`, k chosen per
 * version), and temporary repositories of them, for the model control and version policy
 * tests. Built with onnx-proto (scripts/onnx-builder.ts), never downloaded.
 */
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel } from '../../scripts/onnx-builder.ts';
import type { KServeClient } from './kserve-client.ts';

/** Elements per item of the add-constant models (input `x`, output `y`, FP32 [batch, 4]). */
export const WIDTH = 4;

/** An ONNX model computing `y = x + k` (FP32, [batch, 4]). */
export function addConstModel(k: number): Uint8Array {
  const raw = new Uint8Array(new Float32Array(WIDTH).fill(k).buffer);
  return buildModel({
    graphName: `add_${k}`,
    inputs: [{ name: 'x', elemType: 'FLOAT', shape: ['batch', WIDTH] }],
    outputs: [{ name: 'y', elemType: 'FLOAT', shape: ['batch', WIDTH] }],
    initializers: [{ name: 'k', elemType: 'FLOAT', dims: [WIDTH], raw }],
    nodes: [{ opType: 'Add', inputs: ['x', 'k'], outputs: ['y'], name: 'add' }],
  });
}

/** config.pbtxt of an add-constant model with an optional version_policy line and extras. */
export function addConstConfig(name: string, { policy, maxBatch = 8, extra = '' }: { policy?: string; maxBatch?: number; extra?: string } = {}): string {
  return `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: ${maxBatch}
input [ { name: "x" data_type: TYPE_FP32 dims: [ ${WIDTH} ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ ${WIDTH} ] } ]
${policy ? `version_policy: ${policy}\n` : ''}${extra}`;
}

/** The JSON ModelConfig of an add-constant model, for a load request's `config` parameter. */
export function addConstConfigJson(name: string, maxBatch = 8): string {
  return JSON.stringify({
    name, platform: 'onnxruntime_onnx', max_batch_size: maxBatch,
    input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [WIDTH] }],
    output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [WIDTH] }],
  });
}

/** A temporary model repository the test can change, removed by `remove`. */
export class TempRepo {
  readonly dir: string;

  constructor(prefix = 'infermesh-versions-') {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
  }

  /** Writes `<model>/config.pbtxt`. */
  writeConfig(model: string, text: string): void {
    mkdirSync(join(this.dir, model), { recursive: true });
    writeFileSync(join(this.dir, model, 'config.pbtxt'), text);
  }

  /**
   * Adds version `v` of `model` computing `x + k`. Written to a hidden folder first and renamed
   * into place, as an operator copying a model into a polled repository should: a poll never
   * sees a half-written version folder.
   */
  addVersion(model: string, v: number, k: number | Uint8Array): void {
    mkdirSync(join(this.dir, model), { recursive: true });
    // Hidden names are skipped by the repository scan and the change detection.
    const staging = join(this.dir, `.staging-${model}-${v}`);
    mkdirSync(staging, { recursive: true });
    writeFileSync(join(staging, 'model.onnx'), typeof k === 'number' ? addConstModel(k) : k);
    renameSync(staging, join(this.dir, model, String(v)));
  }

  /** Replaces version `v`'s model file (atomically: write beside, then rename over). */
  replaceVersion(model: string, v: number, k: number): void {
    const tmp = join(this.dir, model, String(v), '.model.onnx.tmp');
    writeFileSync(tmp, addConstModel(k));
    renameSync(tmp, join(this.dir, model, String(v), 'model.onnx'));
  }

  /** Removes a version folder (renamed away first, so a poll sees it either whole or gone). */
  removeVersion(model: string, v: number): void {
    const gone = join(this.dir, `.removed-${model}-${v}-${Date.now()}`);
    renameSync(join(this.dir, model, String(v)), gone);
    rmSync(gone, { recursive: true, force: true });
  }

  /** Removes a model folder (renamed away first, so a poll sees it either whole or gone). */
  removeModel(model: string): void {
    const gone = join(this.dir, `.removed-${model}-${Date.now()}`);
    renameSync(join(this.dir, model), gone);
    rmSync(gone, { recursive: true, force: true });
  }

  /** Copies a folder from elsewhere into the repository as `model`. */
  copyModel(from: string, model: string): void {
    cpSync(from, join(this.dir, model), { recursive: true });
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A JSON inference request body for an add-constant model: one item of four equal values. */
export function addBody(x: number): { inputs: { name: string; shape: number[]; datatype: string; data: number[] }[] } {
  return { inputs: [{ name: 'x', shape: [1, WIDTH], datatype: 'FP32', data: Array(WIDTH).fill(x) }] };
}

/** One answer of an add-constant model as the tests read it. */
export interface AddAnswer {
  status: number;
  /** `model_version` of the response (undefined on errors). */
  version?: string;
  /** `y[0] − x`, i.e. the constant the serving version adds (undefined on errors). */
  k?: number;
  error?: string;
}

/** POSTs one request (to `/versions/<v>` when `version` is given) and reads the answer. */
export async function inferAdd(client: KServeClient, model: string, x: number, version?: string): Promise<AddAnswer> {
  const path = `/v2/models/${model}${version !== undefined ? `/versions/${version}` : ''}/infer`;
  const r = await client.post(path, addBody(x));
  const j = r.json as { model_version?: string; outputs?: { data: number[] }[]; error?: string } | undefined;
  if (r.status !== 200) return { status: r.status, error: j?.error ?? r.text };
  return { status: 200, version: j?.model_version, k: (j?.outputs?.[0]?.data[0] ?? NaN) - x };
}

/**
 * Sends requests with `concurrency` workers until `stop()` resolves; records every answer in
 * order of completion. Used to show that a change under load loses nothing.
 */
export function requestStream(send: (i: number) => Promise<AddAnswer>, concurrency: number): { answers: AddAnswer[]; stop(): Promise<AddAnswer[]> } {
  const answers: AddAnswer[] = [];
  let running = true;
  let next = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (running) {
      const i = next++;
      try {
        answers.push(await send(i));
      } catch (e) {
        answers.push({ status: 0, error: e instanceof Error ? e.message : String(e) });
      }
    }
  });
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(workers);
      return answers;
    },
  };
}
