/**
 * A minimal KServe v2 HTTP client for tests and benchmarks, written from the protocol
 * documents (shared/reference/), using `fetch` like any third-party client would.
 */
import { decodeHttpInferResponse, encodeHttpInferRequest } from '../../protocol/http-infer.ts';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';

export interface RawResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
  text: string;
  json: unknown;
}

export class KServeClient {
  readonly base: string;

  constructor(base: string) {
    this.base = base.replace(/\/$/, '');
  }

  /** Any request; returns status, headers and the body as bytes, text and parsed JSON (if any). */
  async raw(method: string, path: string, body?: Uint8Array | string, headers: Record<string, string> = {}): Promise<RawResponse> {
    const res = await fetch(this.base + path, { method, body: body as BodyInit | undefined, headers });
    const bytes = new Uint8Array(await res.arrayBuffer());
    const text = new TextDecoder().decode(bytes);
    let json: unknown;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: res.status, headers: res.headers, body: bytes, text, json };
  }

  get(path: string) {
    return this.raw('GET', path);
  }

  post(path: string, value?: unknown) {
    return this.raw('POST', path, value === undefined ? undefined : JSON.stringify(value), { 'Content-Type': 'application/json' });
  }

  /** Sends an InferRequest (JSON or binary tensors) and decodes the response; throws on HTTP errors. */
  async infer(req: InferRequest, opts: { binaryInputs?: boolean; binaryOutputs?: boolean } = {}): Promise<InferResponse> {
    const r = await this.inferRaw(req, opts);
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.text}`);
    const hl = r.headers.get('inference-header-content-length');
    return decodeHttpInferResponse(r.body, hl === null ? undefined : Number(hl));
  }

  /** Sends an InferRequest and returns the raw HTTP answer. */
  inferRaw(req: InferRequest, opts: { binaryInputs?: boolean; binaryOutputs?: boolean } = {}): Promise<RawResponse> {
    const enc = encodeHttpInferRequest(req, { binaryInputs: opts.binaryInputs ?? false, binaryOutputs: opts.binaryOutputs ?? false });
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
    if (opts.binaryInputs || opts.binaryOutputs) headers['Inference-Header-Content-Length'] = String(enc.headerLength);
    const body = concat(enc.chunks);
    const version = req.modelVersion ? `/versions/${req.modelVersion}` : '';
    return this.raw('POST', `/v2/models/${encodeURIComponent(req.modelName)}${version}/infer`, body, headers);
  }
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.byteLength;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.byteLength; }
  return out;
}
