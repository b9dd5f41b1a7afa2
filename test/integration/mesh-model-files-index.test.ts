/**
 * The served-file index (mesh/model-files.ts) on a real repository: a real InferenceServer
 * with onnxruntime-node loading `simple` from a temporary folder through a FsModelSource that
 * counts its reads. Checks what the index reads and when (lazily, once per unchanged file,
 * once per concurrent transfer), and that it forgets and stops serving what is unloaded.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { InferenceServer } from '../../core/inference-server.ts';
import { silentLogger, type Logger } from '../../core/logger.ts';
import { DEFAULT_MAX_BLOB_BYTES, type BlobSource } from '../../mesh/blob-protocol.ts';
import { fileHashHex, ModelFileIndex } from '../../mesh/model-files.ts';
import { createOrtNodeBackends } from '../../node-host/backend-ort-node.ts';
import { FsModelSource } from '../../node-host/model-source-fs.ts';
import { EXAMPLES } from '../support/test-server.ts';
import { until } from '../support/mesh-cluster.ts';

/** A real directory source that counts reads per path. */
class CountingSource extends FsModelSource {
  readonly reads = new Map<string, number>();
  override async read(path: string): Promise<Uint8Array> {
    this.reads.set(path, (this.reads.get(path) ?? 0) + 1);
    return super.read(path);
  }
  count(path: string): number {
    return this.reads.get(path) ?? 0;
  }
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
const logger: Logger = {
  debug() {}, info() {}, error() {},
  warn(msg, fields) { warnings.push({ msg, fields }); },
  child() { return logger; },
};

let dir: string;
let source: CountingSource;
let core: InferenceServer;
let wanted = false;
let changes = 0;
let index: ModelFileIndex;

const MODEL = 'simple/1/model.onnx';
const ready = (name: string) => core.repository.readyVersions(name);

/** Polls filesOf (as the status report does every second) until the model's files are known. */
async function filesOf(name: string) {
  await until(() => index.filesOf(ready(name)).length > 0, 10_000, `the files of ${name} to be hashed`);
  return index.filesOf(ready(name));
}

async function drain(s: BlobSource): Promise<Uint8Array> {
  const out = new Uint8Array(s.size);
  for (let o = 0; o < s.size; o += 7) out.set(await s.read(o, Math.min(7, s.size - o)), o);
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'infermesh-file-index-'));
  cpSync(join(EXAMPLES, 'simple'), join(dir, 'simple'), { recursive: true });
  writeFileSync(join(dir, 'simple', 'NOTES.txt'), 'root files travel too\n');
  source = new CountingSource(dir);
  core = new InferenceServer({
    sources: [source], backends: createOrtNodeBackends({ logger: silentLogger, intraOpNumThreads: 1 }),
    controlMode: 'explicit', startupModels: ['simple'],
  });
  await core.start();
  index = new ModelFileIndex({ repository: core.repository, wanted: () => wanted, onChange: () => changes++, logger });
}, 60_000);

afterAll(async () => {
  await core?.stop(1_000);
  rmSync(dir, { recursive: true, force: true });
});

describe('ModelFileIndex', () => {
  test('nothing is read or hashed until files are wanted', async () => {
    const before = source.count(MODEL);
    for (let i = 0; i < 5; i++) {
      expect(index.filesOf(ready('simple'))).toEqual([]);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(source.count(MODEL)).toBe(before);
    expect(index.sharedFiles).toBe(0);
    wanted = true;
    const files = await filesOf('simple');
    expect(files.map((f) => f.path)).toEqual(['1/model.onnx', 'NOTES.txt', 'config.pbtxt']);
    expect(fileHashHex(files[0])).toBe(sha(readFileSync(join(dir, MODEL))));
    expect(source.count(MODEL)).toBe(before + 1);
    expect(changes).toBeGreaterThan(0);
  });

  test('concurrent transfers of one file share one read, released when the last ends', async () => {
    const [model] = await filesOf('simple');
    const hash = fileHashHex(model);
    const before = source.count(MODEL);
    const blobs = await Promise.all(Array.from({ length: 10 }, () => index.provider(hash)));
    expect(source.count(MODEL)).toBe(before + 1);
    expect(index.openReads).toBe(1);
    for (const b of blobs) expect(sha(await drain(b!))).toBe(hash);
    for (const b of blobs.slice(0, 9)) b!.close!();
    blobs[0]!.close!(); // a second close of one transfer must not release another's
    expect(index.openReads).toBe(1);
    blobs[9]!.close!();
    expect(index.openReads).toBe(0);
    const again = await index.provider(hash);
    expect(source.count(MODEL)).toBe(before + 2);
    again!.close!();
  });

  test('a reload of unchanged files reads nothing; a changed file is hashed again', async () => {
    const [model] = await filesOf('simple');
    const oldHash = fileHashHex(model);
    await core.loadModel('simple');
    const before = source.count(MODEL); // the load itself reads the model; hashing must not
    const files = await filesOf('simple');
    expect(fileHashHex(files[0])).toBe(oldHash);
    expect(source.count(MODEL)).toBe(before);

    // a root file edited: the reload hashes it again and the old bytes are no longer served
    const notes = join(dir, 'simple', 'NOTES.txt');
    const oldNotes = sha(readFileSync(notes));
    writeFileSync(notes, 'notes, second edition\n');
    await core.loadModel('simple');
    const reloaded = await filesOf('simple');
    const newNotes = reloaded.find((f) => f.path === 'NOTES.txt')!;
    expect(fileHashHex(newNotes)).toBe(sha(readFileSync(notes)));
    expect(await index.provider(oldNotes)).toBeUndefined();
    const blob = await index.provider(fileHashHex(newNotes));
    expect(new TextDecoder().decode(await drain(blob!))).toBe('notes, second edition\n');
    blob!.close!();
  });

  test('a file changed on disk since it was hashed (same size) is refused without reading it', async () => {
    const notes = join(dir, 'simple', 'NOTES.txt');
    const files = await filesOf('simple');
    const hash = fileHashHex(files.find((f) => f.path === 'NOTES.txt')!);
    writeFileSync(notes, 'NOTES, second edition\n'); // same length, other bytes
    utimesSync(notes, new Date(), new Date(Date.now() + 5_000));
    const before = source.count('simple/NOTES.txt');
    expect(await index.provider(hash)).toBeUndefined();
    expect(source.count('simple/NOTES.txt')).toBe(before);
    expect(index.openReads).toBe(0);
  });

  test('an unloaded model is forgotten and its files are no longer served', async () => {
    await core.loadModel('simple');
    const [model] = await filesOf('simple');
    index.prune(); // the versions replaced by the reloads above
    expect(index.sharedFiles).toBe(3);
    await core.unloadModel('simple');
    expect(await index.provider(fileHashHex(model))).toBeUndefined();
    expect(index.sharedFiles).toBe(0);
    expect(index.filesOf(ready('simple'))).toEqual([]);
  });

  test('a load with file overrides is shared from memory and dropped with its source on unload', async () => {
    const bytes = readFileSync(join(EXAMPLES, 'simple', '1', 'model.onnx'));
    const config = {
      name: 'simple', platform: 'onnxruntime_onnx', max_batch_size: 8,
      input: [{ name: 'INPUT0', data_type: 'TYPE_INT32', dims: [16] }, { name: 'INPUT1', data_type: 'TYPE_INT32', dims: [16] }],
      output: [{ name: 'OUTPUT0', data_type: 'TYPE_INT32', dims: [16] }, { name: 'OUTPUT1', data_type: 'TYPE_INT32', dims: [16] }],
    };
    await core.loadModel('simple', { configJson: JSON.stringify(config), files: new Map([['file:1/model.onnx', new Uint8Array(bytes)]]) });
    const files = await filesOf('simple');
    expect(files.map((f) => f.path)).toEqual(['1/model.onnx']);
    const blob = await index.provider(sha(bytes));
    expect(sha(await drain(blob!))).toBe(sha(bytes));
    blob!.close!();
    await core.unloadModel('simple');
    index.prune();
    expect(index.sharedFiles).toBe(0);
    expect(index.openReads).toBe(0);
    expect(await index.provider(sha(bytes))).toBeUndefined();
  });

  test('a file over the blob limit leaves the model unshared with a warning naming it and the limit', async () => {
    // a sparse file: 2 GiB + 1 on disk without using the space; never read (stat tells the size)
    const big = join(dir, 'simple', 'weights.bin');
    writeFileSync(big, '');
    truncateSync(big, DEFAULT_MAX_BLOB_BYTES + 1);
    warnings.length = 0;
    await core.loadModel('simple');
    await until(() => index.filesOf(ready('simple')).length > 0 || warnings.length > 0, 10_000, 'the warning');
    expect(source.count('simple/weights.bin')).toBe(0);
    expect(warnings[0].msg).toBe('model files not shared');
    expect(String(warnings[0].fields?.reason)).toContain(`'weights.bin' is ${DEFAULT_MAX_BLOB_BYTES + 1} bytes, over the limit of ${DEFAULT_MAX_BLOB_BYTES}`);
    expect(index.filesOf(ready('simple'))).toEqual([]);
    rmSync(big);
  });
});
