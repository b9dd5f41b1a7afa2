/**
 * The tab's ModelSource over the mesh (browser-host/model-source-mesh.ts) with a fake blob
 * fetcher: the repository layout it presents, progress, cache use, failover between peers,
 * and refusal of unsafe file lists. The real blob protocol is exercised in
 * test/integration/mesh-model-files.test.ts.
 */
import { describe, expect, test } from 'vitest';
import { createHash } from 'node:crypto';
import { MemoryBlobCache } from '../../browser-host/blob-cache.ts';
import { checkFileList, MeshModelSource, type BlobFetcher, type MeshFile } from '../../browser-host/model-source-mesh.ts';

const enc = new TextEncoder();
const blobs = new Map<string, Uint8Array>();
function file(path: string, text: string): MeshFile {
  const bytes = enc.encode(text);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  blobs.set(sha256, bytes);
  return { path, sha256, size: bytes.byteLength };
}
const FILES = [file('config.pbtxt', 'name: "m"'), file('1/model.onnx', 'x'.repeat(5000)), file('1/model.onnx.data/w.bin', 'weights'), file('labels.txt', 'a\nb\n')];

function source(peers: Record<string, 'ok' | 'down' | 'short'>, cache = new MemoryBlobCache()) {
  const calls: string[] = [];
  const fetch: BlobFetcher = async (peer, sha, o) => {
    calls.push(peer);
    if (peers[peer] === 'down') throw new Error('connection refused');
    const b = blobs.get(sha)!;
    o.onProgress?.(b.byteLength, b.byteLength);
    return peers[peer] === 'short' ? b.subarray(1) : b;
  };
  return { src: new MeshModelSource({ fetch, peersWith: () => Object.keys(peers), cache }), calls, cache };
}

describe('the mesh model source', () => {
  test('presents pinned models as a repository: folders, files, nested folders', async () => {
    const { src } = source({ a: 'ok' });
    src.pin('m', FILES);
    expect(await src.list('')).toEqual([{ name: 'm', kind: 'directory' }]);
    expect(await src.list('m')).toEqual([{ name: '1', kind: 'directory' }, { name: 'config.pbtxt', kind: 'file' }, { name: 'labels.txt', kind: 'file' }]);
    expect(await src.list('m/1')).toEqual([{ name: 'model.onnx', kind: 'file' }, { name: 'model.onnx.data', kind: 'directory' }]);
    expect(await src.exists('m/1/model.onnx')).toBe(true);
    expect(await src.exists('m/2')).toBe(false);
    await expect(src.list('m/2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(src.read('m/nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(new TextDecoder().decode(await src.read('m/config.pbtxt'))).toBe('name: "m"');
    src.unpin('m');
    expect(await src.list('')).toEqual([]);
  });

  test('prefetch reports progress over the whole model, caches, and a second prefetch downloads nothing', async () => {
    const { src, calls, cache } = source({ a: 'ok' });
    src.pin('m', FILES);
    const seen: [number, number][] = [];
    const first = await src.prefetch('m', (r, t) => seen.push([r, t]));
    const total = FILES.reduce((n, f) => n + f.size, 0);
    expect(first).toEqual({ cached: 0, downloaded: total });
    expect(seen[0]).toEqual([0, total]);
    expect(seen.at(-1)).toEqual([total, total]);
    expect(seen.every(([r], i) => i === 0 || r >= seen[i - 1][0])).toBe(true);
    expect(calls).toHaveLength(FILES.length);
    const again = source({ a: 'ok' }, cache);
    again.src.pin('m', FILES);
    expect(await again.src.prefetch('m')).toEqual({ cached: total, downloaded: 0 });
    expect(again.calls).toEqual([]);
  });

  test('a failing or lying peer is skipped for the next; when all fail the error lists why', async () => {
    const { src, calls } = source({ 'peer-down': 'down', 'peer-short': 'short', 'peer-good': 'ok' });
    src.pin('m', [FILES[0]]);
    expect(new TextDecoder().decode(await src.read('m/config.pbtxt'))).toBe('name: "m"');
    expect(calls).toEqual(['peer-down', 'peer-short', 'peer-good']);
    const bad = source({ 'peer-down': 'down' });
    bad.src.pin('m', [FILES[1]]);
    await expect(bad.src.read('m/1/model.onnx')).rejects.toMatchObject({
      code: 'UNAVAILABLE', message: expect.stringMatching(/cannot download '1\/model.onnx' of model 'm' .*every peer failed \(eer-down: connection refused\)/),
    });
    const none = source({});
    none.src.pin('m', [FILES[0]]);
    await expect(none.src.read('m/config.pbtxt')).rejects.toThrow(/no peer advertises it any more/);
  });

  test('file lists that could escape the model folder or are malformed are refused', () => {
    const ok = FILES[0];
    expect(checkFileList(FILES)).toBeUndefined();
    expect(checkFileList([{ ...ok, path: '../../etc/passwd' }])).toMatch(/not a relative path inside the model folder/);
    expect(checkFileList([{ ...ok, path: '/abs' }])).toMatch(/not a relative path/);
    expect(checkFileList([{ ...ok, path: '1/./x' }])).toMatch(/not a relative path/);
    expect(checkFileList([ok, ok])).toMatch(/listed twice/);
    expect(checkFileList([{ ...ok, sha256: 'abc' }])).toMatch(/no valid SHA-256/);
    expect(checkFileList([{ ...ok, size: -1 }])).toMatch(/invalid size/);
    const { src } = source({});
    expect(() => src.pin('..', FILES)).toThrow(/cannot be a folder name/);
    expect(() => src.pin('m', [{ ...ok, path: 'a\\b' }])).toThrow(/model 'm': file path/);
  });
});
