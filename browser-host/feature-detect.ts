/**
 * What this browser can run models on, and why, in words a person can act on: is there a
 * WebGPU adapter, is the page cross-origin isolated (WASM threads need SharedArrayBuffer,
 * which browsers only give isolated pages: COOP/COEP headers), how many cores.
 *
 * {@link detectFeatures} reads the environment (page or worker: both have `navigator.gpu` in
 * Chromium); {@link chooseProvider} is pure, so its decisions are unit-tested in Node. The
 * worker makes the final call after running a probe session on the chosen provider
 * (ort-web.worker.ts): an adapter that exists can still fail to create a device.
 */
import { DEFAULT_MAX_WASM_THREADS, type ExecutionProviderName, type ProviderRequest } from './worker-protocol.ts';

/** What the environment offers. */
export interface BrowserFeatures {
  /** A WebGPU adapter was granted; its description when so. */
  webgpu: boolean;
  adapter?: string;
  /**
   * The adapter is a software rasteriser (SwiftShader, llvmpipe, a fallback adapter): WebGPU
   * then runs on the CPU, measured about 1,000× slower than WASM (docs/PERFORMANCE.md §11).
   */
  softwareAdapter?: boolean;
  /** Why there is no adapter (empty when there is one). */
  webgpuReason: string;
  crossOriginIsolated: boolean;
  sharedArrayBuffer: boolean;
  secureContext: boolean;
  hardwareConcurrency: number;
}

/** The provider decision with its reason and the WASM thread count. */
export interface ProviderChoice {
  provider: ExecutionProviderName;
  reason: string;
  threads: number;
  threadsReason: string;
}

/** The parts of `globalThis` detection reads (a page's `window` or a worker's `self`). */
export interface FeatureScope {
  navigator?: { gpu?: { requestAdapter(): Promise<AdapterLike | null> }; hardwareConcurrency?: number };
  crossOriginIsolated?: boolean;
  isSecureContext?: boolean;
  SharedArrayBuffer?: unknown;
}

/** What detection reads of a GPUAdapter. */
export interface AdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string; device?: string };
  isFallbackAdapter?: boolean;
}

/** 3 s: a browser that neither grants nor refuses an adapter by then is treated as having none. */
export const DEFAULT_ADAPTER_TIMEOUT_MS = 3_000;

/** A person-readable name of an adapter: `google swiftshader (software)`. */
export function describeAdapter(a: AdapterLike): string {
  const i = a.info ?? {};
  const name = [i.vendor, i.architecture || i.device, i.description].filter((s) => s && s.length > 0).join(' ') || 'unnamed adapter';
  return a.isFallbackAdapter ? `${name} (software fallback)` : name;
}

/** True for adapters that emulate a GPU on the CPU (by flag, or by the known software names). */
export function isSoftwareAdapter(a: AdapterLike): boolean {
  if (a.isFallbackAdapter) return true;
  const i = a.info ?? {};
  return /swiftshader|llvmpipe|lavapipe|software|microsoft basic render/i.test([i.vendor, i.architecture, i.device, i.description].join(' '));
}

/** Reads the environment; never throws. */
export async function detectFeatures(scope: FeatureScope = globalThis as unknown as FeatureScope): Promise<BrowserFeatures> {
  const nav = scope.navigator;
  const base = {
    crossOriginIsolated: scope.crossOriginIsolated === true,
    sharedArrayBuffer: typeof scope.SharedArrayBuffer === 'function',
    secureContext: scope.isSecureContext !== false,
    hardwareConcurrency: Math.max(1, nav?.hardwareConcurrency ?? 1),
  };
  if (!nav?.gpu) {
    const webgpuReason = !base.secureContext
      ? 'WebGPU needs a secure context (https:// or http://localhost); this page is neither'
      : 'this browser has no WebGPU (navigator.gpu is missing): use a recent Chrome or Edge, or enable WebGPU in the browser flags';
    return { webgpu: false, webgpuReason, ...base };
  }
  try {
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), DEFAULT_ADAPTER_TIMEOUT_MS));
    const adapter = await Promise.race([nav.gpu.requestAdapter(), timeout]);
    if (adapter === 'timeout') return { webgpu: false, webgpuReason: `no WebGPU adapter within ${DEFAULT_ADAPTER_TIMEOUT_MS} ms`, ...base };
    if (adapter === null) {
      return { webgpu: false, webgpuReason: 'the browser has WebGPU but granted no adapter (no GPU, or the GPU/driver is blocklisted: see chrome://gpu)', ...base };
    }
    return { webgpu: true, adapter: describeAdapter(adapter), softwareAdapter: isSoftwareAdapter(adapter), webgpuReason: '', ...base };
  } catch (e) {
    return { webgpu: false, webgpuReason: `requesting a WebGPU adapter failed: ${(e as Error)?.message ?? String(e)}`, ...base };
  }
}

/**
 * Picks the provider for a request and the WASM thread count.
 * - `wasm`: WASM, as asked.
 * - `webgpu` with an adapter: WebGPU. `auto` with a hardware adapter: WebGPU; with a software
 *   one (SwiftShader: a GPU emulated on the CPU, about 1,000× slower than WASM): WASM.
 * - `webgpu`/`auto` without one: WASM, with the reason there is no WebGPU.
 * Threads: up to `maxThreads` when cross-origin isolated, else 1 with the reason.
 */
export function chooseProvider(f: BrowserFeatures, request: ProviderRequest, maxThreads = DEFAULT_MAX_WASM_THREADS): ProviderChoice {
  const isolated = f.crossOriginIsolated && f.sharedArrayBuffer;
  const threads = isolated ? Math.max(1, Math.min(maxThreads, f.hardwareConcurrency)) : 1;
  const threadsReason = isolated
    ? `${threads} WASM thread${threads === 1 ? '' : 's'} (page is cross-origin isolated, ${f.hardwareConcurrency} cores)`
    : '1 WASM thread: the page is not cross-origin isolated (its server must send Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)';
  if (request === 'wasm') return { provider: 'wasm', reason: 'WASM, as requested (provider=wasm)', threads, threadsReason };
  if (f.webgpu && request === 'auto' && f.softwareAdapter) {
    return {
      provider: 'wasm', threads, threadsReason,
      reason: `WASM (automatic): the only WebGPU adapter is ${f.adapter ?? 'a software one'}, which emulates a GPU on the CPU and runs models far slower than WASM; use provider=webgpu to force it`,
    };
  }
  if (f.webgpu) {
    return { provider: 'webgpu', reason: `WebGPU on ${f.adapter ?? 'an adapter'}${request === 'auto' ? ' (automatic: an adapter is available)' : ''}`, threads, threadsReason };
  }
  const asked = request === 'webgpu' ? 'WebGPU was requested but ' : '';
  return { provider: 'wasm', reason: `WASM: ${asked}${f.webgpuReason}`, threads, threadsReason };
}
