/**
 * The contribute page's pure parts: its configuration (embedded JSON + query), the execution
 * provider decision with its reasons, and the config a tab loads models with.
 */
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelConfigJson, parseModelConfigText } from '../../core/model-config-parse.ts';
import { chooseProvider, detectFeatures, isSoftwareAdapter, type BrowserFeatures } from '../../browser-host/feature-detect.ts';
import { DEFAULT_BUDGET_BYTES } from '../../browser-host/model-choice.ts';
import { readPageConfig } from '../../browser-host/page-config.ts';
import { tabConfig, tabConfigJson } from '../../browser-host/tab-config.ts';
import { throughputSvg } from '../../browser-host/status-panel.ts';
import { FsModelSource } from '../../node-host/model-source-fs.ts';
import { EXAMPLES } from '../support/test-server.ts';

const DEFAULTS = { ortBase: 'http://h/contribute/ort/', workerUrl: 'http://h/contribute/ort-web.worker.js' };

describe('page config', () => {
  test('the embedded JSON, with defaults for what it leaves out', () => {
    const { config, problems } = readPageConfig('{"bootstrap":["/ip4/1.2.3.4/tcp/8004/ws/p2p/X"],"swarmKey":"KEY","ortBase":"/contribute/ort/"}', '', DEFAULTS);
    expect(problems).toEqual([]);
    expect(config).toEqual({
      bootstrap: ['/ip4/1.2.3.4/tcp/8004/ws/p2p/X'], swarmKey: 'KEY', ortBase: '/contribute/ort/', workerUrl: DEFAULTS.workerUrl,
      provider: 'auto', models: { mode: 'auto' }, budgetBytes: DEFAULT_BUDGET_BYTES, autostart: true, debug: false,
    });
  });

  test('query parameters override; a standalone page (null) has no bootstrap', () => {
    const { config } = readPageConfig('null', '?bootstrap=/a/p2p/1,%20/b/p2p/2&provider=wasm&models=simple,dense_mlp&budgetMb=64&autostart=0&debug=1', DEFAULTS);
    expect(config).toMatchObject({
      bootstrap: ['/a/p2p/1', '/b/p2p/2'], provider: 'wasm', models: { mode: 'named', names: ['simple', 'dense_mlp'] },
      budgetBytes: 64 * 1024 * 1024, autostart: false, debug: true, swarmKey: null,
    });
    expect(readPageConfig(null, '?models=auto', DEFAULTS).config.models).toEqual({ mode: 'auto' });
    expect(readPageConfig(null, '', DEFAULTS).config.bootstrap).toEqual([]);
  });

  test('bad values fall back to defaults and say why, never throw', () => {
    const { config, problems } = readPageConfig('{not json', '?provider=cuda&budgetMb=-3&autostart=maybe', DEFAULTS);
    expect(config).toMatchObject({ provider: 'auto', budgetBytes: DEFAULT_BUDGET_BYTES, autostart: true, bootstrap: [] });
    expect(problems).toEqual([
      expect.stringMatching(/^the embedded infermesh-config is not valid JSON/),
      "provider 'cuda' is not one of auto, webgpu, wasm; using auto",
      "budgetMb '-3' is not a positive number; using 512",
      "autostart 'maybe' is not 1 or 0; using 1",
    ]);
    expect(readPageConfig('{"bootstrap":"one","swarmKey":5}', '', DEFAULTS).problems).toEqual([
      "config 'bootstrap' must be an array of multiaddr strings; ignored", "config 'swarmKey' must be a string; ignored",
    ]);
  });
});

describe('execution provider choice', () => {
  const base: BrowserFeatures = { webgpu: true, adapter: 'acme gpu', webgpuReason: '', crossOriginIsolated: true, sharedArrayBuffer: true, secureContext: true, hardwareConcurrency: 8 };

  test('auto takes WebGPU with an adapter, WASM with the reason without one', () => {
    expect(chooseProvider(base, 'auto')).toMatchObject({ provider: 'webgpu', reason: 'WebGPU on acme gpu (automatic: an adapter is available)', threads: 4 });
    const none = { ...base, webgpu: false, adapter: undefined, webgpuReason: 'no adapter (blocklisted)' };
    expect(chooseProvider(none, 'auto')).toMatchObject({ provider: 'wasm', reason: 'WASM: no adapter (blocklisted)' });
    expect(chooseProvider(none, 'webgpu').reason).toBe('WASM: WebGPU was requested but no adapter (blocklisted)');
    expect(chooseProvider(base, 'wasm')).toMatchObject({ provider: 'wasm', reason: 'WASM, as requested (provider=wasm)' });
  });

  test('auto prefers WASM over a software WebGPU adapter (SwiftShader); provider=webgpu still forces it', () => {
    const soft = { ...base, adapter: 'google swiftshader', softwareAdapter: true };
    const auto = chooseProvider(soft, 'auto');
    expect(auto.provider).toBe('wasm');
    expect(auto.reason).toMatch(/google swiftshader, which emulates a GPU on the CPU.*provider=webgpu to force it/);
    expect(chooseProvider(soft, 'webgpu').provider).toBe('webgpu');
    expect(isSoftwareAdapter({ info: { vendor: 'google', architecture: 'swiftshader' } })).toBe(true);
    expect(isSoftwareAdapter({ info: { vendor: 'mesa', device: 'llvmpipe (LLVM 15.0.6, 256 bits)' } })).toBe(true);
    expect(isSoftwareAdapter({ info: { vendor: 'nvidia', architecture: 'hopper' } })).toBe(false);
  });

  test('WASM threads need a cross-origin isolated page; the reason names the headers', () => {
    expect(chooseProvider({ ...base, hardwareConcurrency: 2 }, 'wasm').threads).toBe(2);
    const plain = chooseProvider({ ...base, crossOriginIsolated: false }, 'wasm');
    expect(plain.threads).toBe(1);
    expect(plain.threadsReason).toMatch(/Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp/);
  });

  test('detection: no navigator.gpu, a refused adapter, a failing request, a granted one', async () => {
    expect((await detectFeatures({ navigator: {}, isSecureContext: false })).webgpuReason).toMatch(/needs a secure context/);
    expect((await detectFeatures({ navigator: {} })).webgpuReason).toMatch(/navigator\.gpu is missing/);
    const gpu = (r: () => Promise<unknown>) => ({ navigator: { gpu: { requestAdapter: r as () => Promise<null> }, hardwareConcurrency: 3 }, crossOriginIsolated: true, SharedArrayBuffer });
    expect((await detectFeatures(gpu(async () => null))).webgpuReason).toMatch(/granted no adapter/);
    expect((await detectFeatures(gpu(async () => { throw new Error('device lost'); }))).webgpuReason).toBe('requesting a WebGPU adapter failed: device lost');
    const ok = await detectFeatures(gpu(async () => ({ info: { vendor: 'google', architecture: 'swiftshader' }, isFallbackAdapter: true })));
    expect(ok).toEqual({ webgpu: true, adapter: 'google swiftshader (software fallback)', softwareAdapter: true, webgpuReason: '', crossOriginIsolated: true, sharedArrayBuffer: true, secureContext: true, hardwareConcurrency: 3 });
  });
});

describe('the config a tab loads a model with', () => {
  test('one KIND_AUTO instance and the latest version; everything else is the owner\'s', async () => {
    const raw = parseModelConfigText(readFileSync(join(EXAMPLES, 'dense_mlp', 'config.pbtxt'), 'utf8'));
    expect(tabConfig(raw)).toEqual({ ...raw, instance_group: [{ count: 1, kind: 'KIND_AUTO' }], version_policy: { latest: { num_versions: 1 } } });
    const json = await tabConfigJson(new FsModelSource(EXAMPLES), 'dense_mlp');
    expect(parseModelConfigJson(json)).toEqual(tabConfig(raw));
    // a model without config.pbtxt gets just the two fields (auto-complete does the rest)
    expect(JSON.parse(await tabConfigJson(new FsModelSource(EXAMPLES), 'autocomplete_add'))).toEqual({ instance_group: [{ count: 1, kind: 'KIND_AUTO' }], version_policy: { latest: { num_versions: 1 } } });
  });
});

test('the throughput chart is an SVG polyline scaled to the largest sample', () => {
  const svg = throughputSvg([0, 5, 10], 100, 50);
  expect(svg).toContain('<polyline points="0.0,48.0 50.0,33.0 100.0,18.0"');
  expect(svg).toContain('max 10.0/s');
  expect(svg).toContain('now 10.0 items/s');
  expect(throughputSvg([])).not.toContain('<polyline');
});
