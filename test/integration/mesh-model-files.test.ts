/**
 * How a peer without the repository gets a model from the mesh, on real parts in one process:
 * real libp2p nodes on the memory transport, real InferenceServers with onnxruntime-node, and
 * the browser host's own pipeline (offers from gossip → ModelManager → MeshModelSource over the
 * blob protocol → the core repository with the tab's config), which is runtime-free and so runs
 * in Node too. Host A serves `simple` from disk; the "tab" B downloads it, loads it, re-shares
 * its files; A unloads it and routes a request for it to B.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { memory } from '@libp2p/memory';
import { InferenceServer } from '../../core/inference-server.ts';
import { silentLogger } from '../../core/logger.ts';
import { fetchBlob } from '../../mesh/blob-protocol.ts';
import { generateIdentity, peerIdOf } from '../../mesh/identity.ts';
import { createMeshNode, type MeshNode } from '../../mesh/mesh-node.ts';
import { MeshService } from '../../mesh/mesh-service.ts';
import { fileHashHex } from '../../mesh/model-files.ts';
import { createOrtNodeBackends } from '../../node-host/backend-ort-node.ts';
import { FsModelSource } from '../../node-host/model-source-fs.ts';
import { MemoryBlobCache } from '../../browser-host/blob-cache.ts';
import { currentReports, peersWithFile } from '../../browser-host/mesh-browser.ts';
import { offersFrom } from '../../browser-host/model-choice.ts';
import { ModelManager } from '../../browser-host/model-manager.ts';
import { MeshModelSource } from '../../browser-host/model-source-mesh.ts';
import { EXAMPLES } from '../support/test-server.ts';
import { until } from '../support/mesh-cluster.ts';

const INTERVAL_MS = 200;
let dir: string;
let nodeA: MeshNode;
let nodeB: MeshNode;
let meshC: MeshService;
let coreA: InferenceServer;
let coreB: InferenceServer;
let meshA: MeshService;
let meshB: MeshService;
let sourceB: MeshModelSource;
let cache: MemoryBlobCache;
let manager: ModelManager;
const changes: string[] = [];

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function simpleRequest() {
  const a = Int32Array.from({ length: 16 }, (_, i) => i * 3);
  const b = Int32Array.from({ length: 16 }, (_, i) => 100 - i);
  return {
    req: { modelName: 'simple', parameters: {}, inputs: [{ name: 'INPUT0', datatype: 'INT32' as const, shape: [1, 16], data: a }, { name: 'INPUT1', datatype: 'INT32' as const, shape: [1, 16], data: b }] },
    sum: Array.from(a, (x, i) => x + b[i]),
    diff: Array.from(a, (x, i) => x - b[i]),
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'infermesh-files-'));
  // two versions (the tab takes the latest only) and an extra root file (shared, like labels)
  cpSync(join(EXAMPLES, 'simple'), join(dir, 'simple'), { recursive: true });
  cpSync(join(dir, 'simple', '1'), join(dir, 'simple', '2'), { recursive: true });
  writeFileSync(join(dir, 'simple', 'config.pbtxt'), `${readFileSync(join(EXAMPLES, 'simple', 'config.pbtxt'), 'utf8')}\nversion_policy: { all: {} }\n`);
  writeFileSync(join(dir, 'simple', 'NOTES.txt'), 'root files travel too\n');
  const [ka, kb] = await Promise.all([generateIdentity(), generateIdentity()]);
  const id = `files-${process.pid}`;
  const backends = () => createOrtNodeBackends({ logger: silentLogger, intraOpNumThreads: 1 });
  nodeA = await createMeshNode({ privateKey: ka, transports: [memory()], listen: [`/memory/${id}-a`], pubsubHeartbeatMs: 200 });
  nodeB = await createMeshNode({
    privateKey: kb, transports: [memory()], listen: [`/memory/${id}-b`], pubsubHeartbeatMs: 200,
    bootstrap: [`/memory/${id}-a/p2p/${peerIdOf(ka).toString()}`],
  });
  coreA = new InferenceServer({ sources: [new FsModelSource(dir)], backends: backends(), controlMode: 'explicit', startupModels: ['simple'] });
  await coreA.start();
  meshA = new MeshService({ node: nodeA, core: coreA, statusIntervalMs: INTERVAL_MS });
  cache = new MemoryBlobCache();
  const b = nodeB;
  sourceB = new MeshModelSource({ fetch: (peer, h, o) => fetchBlob(b, peer, h, o), peersWith: (h) => peersWithFile(currentReports(meshB), h), cache });
  coreB = new InferenceServer({ sources: [sourceB], backends: backends(), controlMode: 'explicit', strictReadiness: false });
  await coreB.start();
  meshB = new MeshService({ node: nodeB, core: coreB, role: 'browser', statusIntervalMs: INTERVAL_MS });
  manager = new ModelManager({
    core: coreB, source: sourceB, offers: () => offersFrom(currentReports(meshB)), request: { mode: 'named', names: ['simple'] },
    budgetBytes: 1 << 20, logger: silentLogger, onChange: () => changes.push('change'), statusChanged: () => meshB.statusChanged(),
  });
  await meshA.start();
  await meshB.start();
  // C: a client-only peer connected to A only (it listens nowhere, and the "tab" B cannot be dialed)
  const nodeC = await createMeshNode({ transports: [memory()], listen: [], pubsubHeartbeatMs: 200, bootstrap: [`/memory/${id}-a/p2p/${peerIdOf(ka).toString()}`] });
  meshC = new MeshService({ node: nodeC, role: 'client', statusIntervalMs: INTERVAL_MS });
  await meshC.start();
}, 60_000);

afterAll(async () => {
  await meshC?.stop();
  await manager?.stop();
  await meshB?.stop();
  await meshA?.stop();
  await coreB?.stop(1_000);
  await coreA?.stop(1_000);
  rmSync(dir, { recursive: true, force: true });
});

describe('model files over the mesh', () => {
  test("a host advertises its served models' files with their SHA-256 and size", async () => {
    await until(() => (meshB.directory.get(meshA.peerId)?.status?.models.find((m) => m.name === 'simple')?.files.length ?? 0) > 0, 10_000, 'A to advertise simple\'s files');
    const m = meshB.directory.get(meshA.peerId)!.status!.models.find((x) => x.name === 'simple')!;
    expect(m.versions).toEqual(['1', '2']);
    const files = m.files.map((f) => [f.path, fileHashHex(f), f.size]);
    const disk = (p: string) => readFileSync(join(dir, 'simple', p));
    expect(files).toEqual(['1/model.onnx', '2/model.onnx', 'NOTES.txt', 'config.pbtxt'].map((p) => [p, sha(disk(p)), disk(p).byteLength]));
  });

  test('the blob protocol serves advertised files by hash and nothing else', async () => {
    const model = readFileSync(join(dir, 'simple', '1', 'model.onnx'));
    const got = await fetchBlob(nodeB, meshA.peerId, sha(model));
    expect(sha(got)).toBe(sha(model));
    await expect(fetchBlob(nodeB, meshA.peerId, sha(Buffer.from('not a shared file')))).rejects.toMatchObject({ name: 'InferError', code: 'NOT_FOUND' });
  });

  test('the tab pipeline downloads the latest version, verifies it and loads it with the tab config', async () => {
    await manager.step();
    const [tabModel] = manager.models();
    expect(tabModel).toMatchObject({ name: 'simple', version: '2', state: 'ready', cachedBytes: 0 });
    // root files + version 2 only
    expect(sourceB.filesOf('simple')!.map((f) => f.path).sort()).toEqual(['2/model.onnx', 'NOTES.txt', 'config.pbtxt']);
    expect(tabModel.bytes).toBe(sourceB.filesOf('simple')!.reduce((n, f) => n + f.size, 0));
    const served = coreB.repository.get('simple');
    expect(served.version).toBe(2);
    expect(served.instances).toHaveLength(1); // the owner's 2 CPU instances became 1 (tab-config.ts)
    expect(coreB.repository.index(false).filter((r) => r.name === 'simple').map((r) => r.version)).toEqual(['2']);
    const { req, sum, diff } = simpleRequest();
    const res = await coreB.infer(req);
    expect(Array.from(res.outputs[0].data as Int32Array)).toEqual(sum);
    expect(Array.from(res.outputs[1].data as Int32Array)).toEqual(diff);
  });

  test('a request sent to a host that unloaded the model is answered by the tab, which re-shares the files', async () => {
    await coreA.unloadModel('simple');
    meshA.statusChanged();
    await until(() => {
      const m = meshA.directory.get(meshB.peerId)?.status?.models.find((x) => x.name === 'simple');
      return m !== undefined && m.files.length === 3;
    }, 10_000, 'A to see the tab serving simple with its files');
    const before = meshA.counters.routedRemote;
    const { req, sum, diff } = simpleRequest();
    const res = await meshA.infer(req);
    expect(meshA.counters.routedRemote).toBe(before + 1);
    expect(Array.from(res.outputs[0].data as Int32Array)).toEqual(sum);
    expect(Array.from(res.outputs[1].data as Int32Array)).toEqual(diff);
    // the tab serves its copy of the files to others, from its cache
    const model = sourceB.filesOf('simple')!.find((f) => f.path === '2/model.onnx')!;
    const got = await fetchBlob(nodeA, meshB.peerId, model.sha256);
    expect(sha(got)).toBe(model.sha256);
  });

  test('a client that cannot reach the tab is served through a host the tab is connected to', async () => {
    const tab = meshB.peerId;
    await until(() => meshC.directory.get(tab)?.status?.models.some((m) => m.name === 'simple') === true, 10_000, 'C to see the tab serving simple');
    expect(meshC.directory.get(tab)!.connected).toBe(false);
    expect(meshC.directory.get(tab)!.status!.addresses).toEqual([`/p2p/${meshA.peerId}/p2p-circuit/p2p/${tab}`]);
    const forwarded = meshA.counters.forwarded;
    const { req, sum } = simpleRequest();
    for (let i = 0; i < 5; i++) {
      const res = await meshC.infer(req);
      expect(Array.from(res.outputs[0].data as Int32Array)).toEqual(sum);
    }
    expect(meshA.counters.forwarded - forwarded).toBe(5);
    expect(meshC.counters.failed).toBe(0);
  });

  test('a second load finds every file in the cache', async () => {
    const again = new MeshModelSource({ fetch: () => Promise.reject(new Error('must not download')), peersWith: () => ['nobody'], cache });
    again.pin('simple', sourceB.filesOf('simple')!);
    const got = await again.prefetch('simple');
    expect(got.downloaded).toBe(0);
    expect(got.cached).toBe(sourceB.filesOf('simple')!.reduce((n, f) => n + f.size, 0));
  });

  test('a file changed on disk since it was hashed is refused, not sent', async () => {
    const notes = join(dir, 'simple', 'NOTES.txt');
    const old = sha(readFileSync(notes));
    writeFileSync(notes, 'edited after the host hashed it\n');
    await expect(fetchBlob(nodeB, meshA.peerId, old)).rejects.toMatchObject({ name: 'InferError', code: 'NOT_FOUND' });
  });

  test('pause unloads (the status lists nothing), resume reloads from the cache', async () => {
    await manager.pause();
    expect(manager.models()[0].state).toBe('paused');
    await until(() => meshA.directory.get(meshB.peerId)?.status?.models.length === 0, 10_000, 'the paused tab to advertise no models');
    await manager.resume();
    expect(manager.models()[0]).toMatchObject({ state: 'ready', cachedBytes: manager.models()[0].bytes });
    const res = await coreB.infer(simpleRequest().req);
    expect(res.outputs).toHaveLength(2);
  });
});
