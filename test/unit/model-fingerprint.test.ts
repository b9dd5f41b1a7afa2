/** Change detection for poll mode: what counts as a change of a model folder, per part. */
import { describe, expect, test } from 'vitest';
import { fingerprintModel, sameFingerprint } from '../../core/model-fingerprint.ts';
import type { ModelSource, SourceEntry, SourceStat } from '../../core/model-source.ts';

/** A mutable in-memory source; `withStat` decides whether it offers `stat` (else contents are hashed). */
class MemorySource implements ModelSource {
  readonly description = 'memory';
  readonly files = new Map<string, { bytes: Uint8Array; mtimeMs: number }>();
  reads = 0;
  stat?: (path: string) => Promise<SourceStat | undefined>;

  constructor(withStat: boolean) {
    if (withStat) {
      this.stat = async (p) => {
        const f = this.files.get(p);
        return f ? { kind: 'file', size: f.bytes.byteLength, mtimeMs: f.mtimeMs } : undefined;
      };
    }
  }

  put(path: string, text: string, mtimeMs = 1): void {
    this.files.set(path, { bytes: new TextEncoder().encode(text), mtimeMs });
  }

  async list(dir: string): Promise<SourceEntry[]> {
    const out = new Map<string, SourceEntry['kind']>();
    for (const p of this.files.keys()) {
      if (!p.startsWith(`${dir}/`)) continue;
      const rest = p.slice(dir.length + 1).split('/');
      out.set(rest[0], rest.length > 1 ? 'directory' : 'file');
    }
    if (out.size === 0) throw Object.assign(new Error('not found'), { code: 'NOT_FOUND' });
    return [...out].map(([name, kind]) => ({ name, kind })).sort((a, b) => a.name.localeCompare(b.name));
  }

  async read(path: string): Promise<Uint8Array> {
    this.reads++;
    const f = this.files.get(path);
    if (!f) throw new Error(`no ${path}`);
    return f.bytes;
  }

  async exists(path: string): Promise<boolean> {
    return this.files.has(path);
  }
}

describe.each([true, false])('fingerprintModel (source with stat: %s)', (withStat) => {
  const setup = () => {
    const src = new MemorySource(withStat);
    src.put('m/config.pbtxt', 'max_batch_size: 8');
    src.put('m/1/model.onnx', 'v1');
    src.put('m/2/model.onnx/model.onnx', 'v2');
    src.put('m/2/model.onnx/weights.bin', 'w2');
    src.put('m/0/model.onnx', 'a folder named 0 is not a version: model-level');
    return { src, loc: { name: 'm', source: src } };
  };

  test('splits the folder into a model part and one part per version folder', async () => {
    const { loc } = setup();
    const fp = await fingerprintModel(loc);
    expect([...fp.versions.keys()].sort()).toEqual([1, 2]);
    expect(fp.model).toContain('config.pbtxt=');
    expect(fp.model).toContain('0={');
    expect(sameFingerprint(fp, await fingerprintModel(loc))).toBe(true);
  });

  test('a changed version file changes only that version; a changed config only the model part', async () => {
    const { src, loc } = setup();
    const before = await fingerprintModel(loc);
    src.put('m/2/model.onnx/weights.bin', 'w2 changed', 2);
    const v2 = await fingerprintModel(loc);
    expect(v2.model).toBe(before.model);
    expect(v2.versions.get(1)).toBe(before.versions.get(1));
    expect(v2.versions.get(2)).not.toBe(before.versions.get(2));
    src.put('m/config.pbtxt', 'max_batch_size: 4', 3);
    const cfg = await fingerprintModel(loc);
    expect(cfg.model).not.toBe(v2.model);
    expect(cfg.versions).toEqual(v2.versions);
    expect(sameFingerprint(before, cfg)).toBe(false);
  });

  test('new and removed version folders show; hidden files do not', async () => {
    const { src, loc } = setup();
    const before = await fingerprintModel(loc);
    src.put('m/.config.pbtxt.swp', 'editor');
    src.put('m/1/.model.onnx.part', 'half copied');
    expect(sameFingerprint(before, await fingerprintModel(loc))).toBe(true);
    src.put('m/3/model.onnx', 'v3');
    expect([...(await fingerprintModel(loc)).versions.keys()].sort()).toEqual([1, 2, 3]);
    src.files.delete('m/1/model.onnx');
    src.files.delete('m/1/.model.onnx.part');
    expect([...(await fingerprintModel(loc)).versions.keys()].sort()).toEqual([2, 3]);
  });
});

test('with stat, files are compared by size and mtime without reading them', async () => {
  const src = new MemorySource(true);
  src.put('m/1/model.onnx', 'v1', 5);
  await fingerprintModel({ name: 'm', source: src });
  expect(src.reads).toBe(0);
  const a = await fingerprintModel({ name: 'm', source: src });
  // Same size, new mtime (rewritten in place): a change.
  src.put('m/1/model.onnx', 'V1', 6);
  expect(sameFingerprint(a, await fingerprintModel({ name: 'm', source: src }))).toBe(false);
});

test('without stat, contents are hashed: same size and no mtime still shows an edit', async () => {
  const src = new MemorySource(false);
  src.put('m/1/model.onnx', 'abcd');
  const a = await fingerprintModel({ name: 'm', source: src });
  src.put('m/1/model.onnx', 'abce');
  expect(sameFingerprint(a, await fingerprintModel({ name: 'm', source: src }))).toBe(false);
  expect(src.reads).toBeGreaterThan(0);
});
