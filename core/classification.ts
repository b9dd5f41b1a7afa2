/**
 * Triton's classification extension (COMPAT-NOTES §1.9): an output requested with
 * `classification: N` comes back as BYTES `[batch, min(N, classes)]` of `"value:index[:label]"`,
 * top-N by value.
 */
import { invalidArg } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';

const encoder = new TextEncoder();

/** Top-`k` classification of `t`, one row per batch item (`batched`), labels optional. */
export function classify(t: Tensor, k: number, batched: boolean, labels?: readonly string[]): Tensor {
  if (!Number.isSafeInteger(k) || k <= 0) throw invalidArg(`output '${t.name}': 'classification' must be a positive integer, got ${k}`);
  if (t.datatype === 'BYTES' || t.datatype === 'FP16' || t.datatype === 'BF16') {
    throw invalidArg(`output '${t.name}': classification needs a numeric output, but it is ${t.datatype}`);
  }
  const rows = batched ? t.shape[0] : 1;
  const total = t.data.length;
  const classes = rows === 0 ? 0 : total / rows;
  const kk = Math.min(k, classes);
  const out: Uint8Array[] = [];
  const values = t.data as ArrayLike<number | bigint>;
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    const idx = Array.from({ length: classes }, (_, i) => i);
    idx.sort((a, b) => Number(values[base + b]) - Number(values[base + a]));
    for (let j = 0; j < kk; j++) {
      const i = idx[j];
      const label = labels?.[i];
      const v = values[base + i];
      const text = typeof v === 'bigint' ? v.toString() : formatValue(v);
      out.push(encoder.encode(label ? `${text}:${i}:${label}` : `${text}:${i}`));
    }
  }
  return { name: t.name, datatype: 'BYTES', shape: batched ? [rows, kk] : [kk], data: out };
}

/** Triton prints floats with 6 significant digits trimmed (`3.3`, `0.5`). */
function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}
