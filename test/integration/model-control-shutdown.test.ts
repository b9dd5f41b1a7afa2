/**
 * Shutdown grace (Triton issue #6230) with real `infermesh serve` processes on 127.0.0.1:
 * hosts A and B serve model `m`; host C serves nothing and routes every request it receives
 * through the mesh. While a stream of requests flows through C at concurrency 8, A gets
 * SIGTERM. A first publishes a status report without models (C's peer directory shows A with
 * no models while A is still running), keeps answering what still reaches it during its grace
 * period, then drains and exits 0. Not one request of the stream fails, and once C has heard,
 * new requests go to B only.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  advertisesThroughput, HostGroup, meshOf, peerIn, pollUntil, summarize, type MeshHost,
} from '../support/mesh-hosts.ts';
import { addConstConfig, inferAdd, requestStream, TempRepo } from '../support/versioned-models.ts';

/** The constant each host's `m` adds, so an answer says which host computed it. */
const K_A = 10;
const K_B = 11;

const group = new HostGroup();
const repos: TempRepo[] = [];
let a: MeshHost;
let b: MeshHost;
let c: MeshHost;

function repoWith(k?: number): string {
  const r = new TempRepo('infermesh-grace-');
  repos.push(r);
  if (k !== undefined) {
    r.writeConfig('m', addConstConfig('m'));
    r.addVersion('m', 1, k);
  }
  return r.dir;
}

beforeAll(async () => {
  // A drains for real (the group's default exit timeout is 0, which also skips the grace).
  a = await group.start('A', { repo: repoWith(K_A), extra: ['--exit-timeout-secs', '30'] });
  b = await group.start('B', { repo: repoWith(K_B), bootstrap: [a.meshAddr] });
  c = await group.start('C', { repo: repoWith(), bootstrap: [a.meshAddr] });
  // Measured throughput on A and B, seen by C, so C's router sends traffic to both.
  for (const h of [a, b]) for (let i = 0; i < 20; i++) await inferAdd(h.client, 'm', i);
  await pollUntil('C to see A and B measured', async () => {
    const view = await meshOf(c);
    return advertisesThroughput(view, a.peerId, 'm') && advertisesThroughput(view, b.peerId, 'm');
  }, { timeoutMs: 20_000 }).catch(async (e) => { throw new Error(`${(e as Error).message}; ${summarize(await meshOf(c))}`); });
}, 60_000);
afterAll(async () => {
  await group.close();
  for (const r of repos) r.remove();
});

test('a host in its grace period is no longer advertised, keeps answering, and no request fails', async () => {
  const stream = requestStream((i) => inferAdd(c.client, 'm', i % 50), 8);
  try {
    await pollUntil('traffic through C to reach A and B', () => stream.answers.some((x) => x.k === K_A) && stream.answers.some((x) => x.k === K_B), { timeoutMs: 20_000 });
    const signalledAt = stream.answers.length;
    a.child.kill('SIGTERM');

    // During the grace period: A is still running, and C sees A's report without models.
    await pollUntil('C to see A withdrawn while A still runs', async () => {
      const p = peerIn(await meshOf(c), a.peerId);
      return p !== undefined && p.age_ms !== null && p.models.length === 0;
    }, { timeoutMs: 3_000, intervalMs: 20 });
    expect(a.child.exitCode).toBeNull();
    const withdrawnAt = stream.answers.length;
    // A answers its own HTTP clients during the grace too (readiness is false meanwhile).
    expect((await inferAdd(a.client, 'm', 3)).status).toBe(200);
    expect((await a.client.get('/v2/health/ready')).status).toBe(400);

    expect(await a.exited).toBe(0);
    const exitedAt = stream.answers.length;
    await pollUntil('more answers after A left', () => stream.answers.length >= exitedAt + 100, { timeoutMs: 20_000 });
    await stream.stop();

    const failed = stream.answers.filter((x) => x.status !== 200);
    expect(failed.slice(0, 3), `${failed.length} of ${stream.answers.length} failed`).toEqual([]);
    expect(stream.answers.every((x) => x.k === K_A || x.k === K_B)).toBe(true);
    // Once C heard (plus the requests already in flight then), everything went to B.
    expect(stream.answers.slice(withdrawnAt + 8).every((x) => x.k === K_B)).toBe(true);
    expect(stream.answers.slice(0, signalledAt).some((x) => x.k === K_A)).toBe(true);
    expect(a.log()).toMatch(/grace period, no longer advertising models/);
    expect(a.log()).toMatch(/stopped/);
  } finally {
    await stream.stop();
  }
}, 60_000);
