/**
 * The mesh client commands as a person runs them: `keygen`, `peers` and `infer` against a
 * real `infermesh serve` process on 127.0.0.1.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BIN, spawnServer, type ServerProcess } from '../support/spawn-server.ts';
import { EXAMPLES } from '../support/test-server.ts';

const run = promisify(execFile);
let host: ServerProcess;
let bootstrap: string;
const dir = mkdtempSync(join(tmpdir(), 'infermesh-climesh-'));

beforeAll(async () => {
  const repo = join(dir, 'repo');
  cpSync(join(EXAMPLES, 'simple'), join(repo, 'simple'), { recursive: true });
  host = await spawnServer(['--model-repository', repo, '--http-port', '0', '--allow-metrics', 'false', '--host', '127.0.0.1', '--listen', '/ip4/127.0.0.1/tcp/0']);
  bootstrap = /mesh listening multiaddr=(\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\w+)/.exec(host.log())![1];
});
afterAll(() => { host?.child.kill('SIGKILL'); });

test('keygen writes a swarm key and an identity, and refuses to overwrite', async () => {
  const key = join(dir, 'swarm.key');
  await run(process.execPath, [BIN, 'keygen', '--swarm-key', key]);
  expect(readFileSync(key, 'utf8')).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/);
  const id = join(dir, 'id.key');
  const { stdout } = await run(process.execPath, [BIN, 'keygen', '--identity', id]);
  expect(stdout).toMatch(/peer id 12D3KooW\w+/);
  await expect(run(process.execPath, [BIN, 'keygen', '--identity', id])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('refusing to overwrite') });
});

test('peers lists the host and its models (text and --json)', async () => {
  const peerId = bootstrap.split('/p2p/')[1];
  const text = await run(process.execPath, [BIN, 'peers', '--bootstrap', bootstrap]);
  expect(text.stdout).toContain(peerId);
  expect(text.stdout).toMatch(/model simple versions 1/);
  const json = JSON.parse((await run(process.execPath, [BIN, 'peers', '--bootstrap', bootstrap, '--json'])).stdout);
  expect(json.role).toBe('client');
  expect(json.peers).toEqual([expect.objectContaining({ peer_id: peerId, role: 'server', models: [expect.objectContaining({ name: 'simple', versions: ['1'] })] })]);
});

test('infer from a peer that serves nothing prints the KServe v2 response', async () => {
  const req = join(dir, 'req.json');
  writeFileSync(req, JSON.stringify({ id: 'cli-1', inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, (_, i) => i) },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array(16).fill(10) }] }));
  const { stdout } = await run(process.execPath, [BIN, 'infer', '--bootstrap', bootstrap, '--model', 'simple', '--input', req]);
  const resp = JSON.parse(stdout);
  expect(resp).toMatchObject({ model_name: 'simple', model_version: '1', id: 'cli-1' });
  expect(resp.outputs[0].data).toEqual(Array.from({ length: 16 }, (_, i) => i + 10));
  const missing = run(process.execPath, [BIN, 'infer', '--bootstrap', bootstrap, '--model', 'nope', '--input', req, '--wait-ms', '500']);
  await expect(missing).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining("no peer of the mesh serves model 'nope'") });
});
