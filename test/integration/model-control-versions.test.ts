/**
 * Version policies end to end over HTTP (COMPAT-NOTES §3.2): `latest { num_versions }` (and the
 * default latest 1), `all`, `specific { versions }`, on a real server with real
 * onnxruntime-node. Every model has versions 1, 2 and 3 on disk, each adding its own constant,
 * so an answer proves which version computed it. Checks the metadata `versions` list, the
 * index, inference on each served version, unversioned requests going to the highest READY
 * version, and Triton's errors for versions that are not served.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { addConstConfig, inferAdd, TempRepo } from '../support/versioned-models.ts';

/** Constant added by version v of every model here. */
const K = (v: number) => 10 * v;

const MODELS: Record<string, { policy?: string; served: number[] }> = {
  v_default: { served: [3] },
  v_latest2: { policy: '{ latest: { num_versions: 2 } }', served: [2, 3] },
  v_all: { policy: '{ all: {} }', served: [1, 2, 3] },
  v_specific: { policy: '{ specific: { versions: [1, 3] } }', served: [1, 3] },
  v_specific_missing: { policy: '{ specific: { versions: [2, 7] } }', served: [2] },
};

let repo: TempRepo;
let s: TestServer;
beforeAll(async () => {
  repo = new TempRepo('infermesh-versions-');
  for (const [name, m] of Object.entries(MODELS)) {
    repo.writeConfig(name, addConstConfig(name, { policy: m.policy }));
    for (const v of [1, 2, 3]) repo.addVersion(name, v, K(v));
  }
  repo.writeConfig('v_none_selected', addConstConfig('v_none_selected', { policy: '{ specific: { versions: [9] } }' }));
  repo.addVersion('v_none_selected', 1, K(1));
  s = await startTestServer({ repositories: [repo.dir], controlMode: 'none', strictReadiness: false });
});
afterAll(async () => {
  await s?.stop();
  repo?.remove();
});

describe.each(Object.entries(MODELS))('version policy of %s', (name, m) => {
  test('metadata and index list exactly the served versions', async () => {
    const meta = (await s.client.get(`/v2/models/${name}`)).json as { versions: string[] };
    expect(meta.versions).toEqual(m.served.map(String));
    const rows = ((await s.client.post('/v2/repository/index')).json as { name: string; version?: string; state?: string }[]).filter((r) => r.name === name);
    expect(rows).toEqual(m.served.map((v) => ({ name, version: String(v), state: 'READY' })));
  });

  test('each served version answers with its own model; no version means the highest', async () => {
    for (const v of m.served) {
      expect(await inferAdd(s.client, name, 1, String(v))).toEqual({ status: 200, version: String(v), k: K(v) });
      expect((await s.client.get(`/v2/models/${name}/versions/${v}/ready`)).status).toBe(200);
      const meta = (await s.client.get(`/v2/models/${name}/versions/${v}`)).json as { versions: string[] };
      expect(meta.versions).toEqual([String(v)]);
    }
    const top = Math.max(...m.served);
    expect(await inferAdd(s.client, name, 1)).toEqual({ status: 200, version: String(top), k: K(top) });
  });

  test("a version that is not served gets Triton's not-found error", async () => {
    for (const v of [1, 2, 3, 7].filter((x) => !m.served.includes(x))) {
      const r = await inferAdd(s.client, name, 1, String(v));
      expect(r).toEqual({ status: 404, error: `Request for unknown model: '${name}' version ${v} is not found` });
      const ready = await s.client.get(`/v2/models/${name}/versions/${v}/ready`);
      expect(ready.status).toBe(404);
      const meta = await s.client.get(`/v2/models/${name}/versions/${v}`);
      expect(meta.status).toBe(404);
      expect((meta.json as { error: string }).error).toBe(`Request for unknown model: '${name}' version ${v} is not found`);
    }
  });
});

test('a policy that selects none of the versions on disk leaves the model UNAVAILABLE with the reason', async () => {
  const rows = ((await s.client.post('/v2/repository/index')).json as { name: string; state?: string; reason?: string }[]).filter((r) => r.name === 'v_none_selected');
  expect(rows).toEqual([{ name: 'v_none_selected', state: 'UNAVAILABLE', reason: "model 'v_none_selected': version_policy selects none of the versions present (1)" }]);
  const r = await inferAdd(s.client, 'v_none_selected', 1);
  expect(r).toEqual({ status: 404, error: "Request for unknown model: 'v_none_selected' has no available versions" });
});

test('a version string that is not a number is refused as Triton does', async () => {
  const r = await s.client.post('/v2/models/v_all/versions/01x/infer', { inputs: [] });
  // The route only matches numeric version segments; anything else is an unknown path.
  expect(r.status).toBe(404);
  const leadingZero = await inferAdd(s.client, 'v_all', 1, '02');
  expect(leadingZero).toEqual({ status: 200, version: '2', k: K(2) });
});
