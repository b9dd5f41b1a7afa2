/**
 * Versions across the mesh, with real `infermesh serve` processes on 127.0.0.1: host A serves
 * model `m` version 1, host B serves versions 1 and 2 (`version_policy { all {} }`). Each
 * version adds its own constant, so every answer says which version computed it. A request
 * for version 2 entering through A goes to B (the only host serving it); a request without a
 * version goes to the highest version READY anywhere in the mesh (ARCHITECTURE.md, "Versions
 * in the mesh"); a version nobody serves gets Triton's not-found error.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { HostGroup, meshOf, peerIn, pollUntil, summarize, type MeshHost } from '../support/mesh-hosts.ts';
import { addConstConfig, inferAdd, TempRepo } from '../support/versioned-models.ts';

const K = (v: number) => 10 * v;

const group = new HostGroup();
const repos: TempRepo[] = [];
let a: MeshHost;
let b: MeshHost;

function repoWith(versions: number[], policy?: string): string {
  const r = new TempRepo('infermesh-mesh-versions-');
  repos.push(r);
  r.writeConfig('m', addConstConfig('m', { policy }));
  for (const v of versions) r.addVersion('m', v, K(v));
  return r.dir;
}

beforeAll(async () => {
  a = await group.start('A', { repo: repoWith([1]) });
  b = await group.start('B', { repo: repoWith([1, 2], '{ all: {} }'), bootstrap: [a.meshAddr] });
  await pollUntil('A to see B serving m versions 1 and 2', async () => {
    const view = await meshOf(a);
    const m = peerIn(view, b.peerId)?.models.find((x) => x.name === 'm');
    return m !== undefined && m.versions.join() === '1,2' ? view : undefined;
  }, { timeoutMs: 20_000 }).catch(async (e) => { throw new Error(`${(e as Error).message}; ${summarize(await meshOf(a))}`); });
}, 60_000);
afterAll(async () => {
  await group.close();
  for (const r of repos) r.remove();
});

describe('versioned routing in the mesh', () => {
  test('a request for version 2 through A (which serves only version 1) is answered by B', async () => {
    for (let i = 0; i < 20; i++) {
      expect(await inferAdd(a.client, 'm', i, '2')).toEqual({ status: 200, version: '2', k: K(2) });
    }
    const meta = await a.client.get('/v2/models/m/versions/2');
    expect(meta.status).toBe(200);
    expect((meta.json as { versions: string[] }).versions).toEqual(['2']);
    expect((await a.client.get('/v2/models/m/versions/2/ready')).status).toBe(200);
  });

  test('version 1 is served by either host, always by version 1', async () => {
    for (let i = 0; i < 10; i++) {
      expect(await inferAdd(a.client, 'm', i, '1')).toEqual({ status: 200, version: '1', k: K(1) });
      expect(await inferAdd(b.client, 'm', i, '1')).toEqual({ status: 200, version: '1', k: K(1) });
    }
  });

  test('a request without a version goes to the highest version served in the mesh', async () => {
    for (let i = 0; i < 10; i++) {
      expect(await inferAdd(a.client, 'm', i)).toEqual({ status: 200, version: '2', k: K(2) });
      expect(await inferAdd(b.client, 'm', i)).toEqual({ status: 200, version: '2', k: K(2) });
    }
  });

  test("a version nobody serves gets Triton's not-found error", async () => {
    expect(await inferAdd(a.client, 'm', 1, '3')).toEqual({ status: 404, error: "Request for unknown model: 'm' version 3 is not found" });
    expect(await inferAdd(b.client, 'm', 1, '3')).toEqual({ status: 404, error: "Request for unknown model: 'm' version 3 is not found" });
  });
});
