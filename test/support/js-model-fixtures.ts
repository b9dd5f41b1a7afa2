/**
 * Fixtures for JS-model tests: writing model folders, a WAV encoder for `vad_wav`, and
 * silero_vad run frame by frame over plain HTTP (what `vad_wav` must agree with).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KServeClient } from './kserve-client.ts';

/** Writes `<repo>/<name>/config.pbtxt` and `<repo>/<name>/1/<file>` for each file given. */
export function writeModel(repo: string, name: string, config: string, files: Record<string, string>): void {
  mkdirSync(join(repo, name, '1'), { recursive: true });
  writeFileSync(join(repo, name, 'config.pbtxt'), `name: "${name}"\n${config}`);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(repo, name, '1', file), text);
}

/** A config body for a JS model with FP32 X → FP32 Y (and more outputs when given). */
export function xyConfig(opts: { maxBatch?: number; extra?: string; outputs?: string; parameters?: Record<string, string>; count?: number } = {}): string {
  const params = Object.entries(opts.parameters ?? {}).map(([k, v]) => `parameters { key: "${k}" value: { string_value: "${v}" } }\n`).join('');
  return `backend: "javascript"
max_batch_size: ${opts.maxBatch ?? 0}
input [ { name: "X" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 1 ] }${opts.outputs ?? ''} ]
instance_group [ { count: ${opts.count ?? 1} kind: KIND_CPU } ]
${params}${opts.extra ?? ''}`;
}

/** A 16-bit PCM mono WAV file of `samples` (floats in [-1, 1]) at `rate`. */
export function wavPcm16(samples: Float32Array, rate: number): Uint8Array {
  const out = new Uint8Array(44 + samples.length * 2);
  const v = new DataView(out.buffer);
  const ascii = (at: number, s: string) => { for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i); };
  ascii(0, 'RIFF'); v.setUint32(4, 36 + samples.length * 2, true); ascii(8, 'WAVE');
  ascii(12, 'fmt '); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  ascii(36, 'data'); v.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) v.setInt16(44 + i * 2, pcm16(samples[i]), true);
  return out;
}

function pcm16(x: number): number {
  return Math.max(-32768, Math.min(32767, Math.round(x * 32768)));
}

/** The samples as the model reads them back from the WAV (16-bit quantised, / 32768). */
export function asReadFromPcm16(samples: Float32Array): Float32Array {
  return Float32Array.from(samples, (x) => pcm16(x) / 32768);
}

/**
 * A deterministic test signal: quiet noise, then a voiced-like burst (harmonics of a gliding
 * pitch, amplitude-modulated at a syllable rate), then quiet again.
 */
export function testSignal(seconds: number, rate: number): Float32Array {
  const n = Math.round(seconds * rate);
  const out = new Float32Array(n);
  let seed = 12345;
  const rand = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32 - 0.5; };
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const voiced = t > seconds * 0.3 && t < seconds * 0.7;
    let x = rand() * 0.004;
    if (voiced) {
      const f0 = 140 + 30 * Math.sin(2 * Math.PI * 1.5 * t);
      for (let h = 1; h <= 8; h++) x += (0.25 / h) * Math.sin(2 * Math.PI * f0 * h * t);
      x *= 0.6 + 0.4 * Math.sin(2 * Math.PI * 4 * t);
    }
    out[i] = x;
  }
  return out;
}

/** Runs silero_vad frame by frame over HTTP (state carried), as vad_wav does through BLS. */
export async function vadByHand(client: KServeClient, samples: Float32Array, rate: number): Promise<Float32Array> {
  const frame = rate === 16000 ? 512 : 256;
  const probs = new Float32Array(Math.floor(samples.length / frame));
  let h = new Float32Array(128);
  let c = new Float32Array(128);
  for (let i = 0; i < probs.length; i++) {
    const r = await client.infer({
      modelName: 'silero_vad', parameters: {},
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [1, frame], data: samples.slice(i * frame, (i + 1) * frame) },
        { name: 'sr', datatype: 'INT64', shape: [1], data: BigInt64Array.from([BigInt(rate)]) },
        { name: 'h', datatype: 'FP32', shape: [2, 1, 64], data: h },
        { name: 'c', datatype: 'FP32', shape: [2, 1, 64], data: c },
      ],
      outputs: [{ name: 'output' }, { name: 'hn' }, { name: 'cn' }],
    }, { binaryInputs: true, binaryOutputs: true });
    const out = Object.fromEntries(r.outputs.map((o) => [o.name, o.data as Float32Array]));
    probs[i] = out.output[0];
    h = Float32Array.from(out.hn);
    c = Float32Array.from(out.cn);
  }
  return probs;
}

/** Largest absolute difference of two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The UTF-8 text of each element of a BYTES output. */
export function texts(data: unknown): string[] {
  return (data as Uint8Array[]).map((e) => new TextDecoder().decode(e));
}
