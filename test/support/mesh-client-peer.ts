/**
 * A client-only mesh peer inside the test process (MeshService without a core: serves nothing,
 * routes everything), for tests that submit many requests through the mesh; a single request
 * can also go through the real `infermesh infer` CLI ({@link inferViaCli}).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import { createMeshNode } from '../../mesh/mesh-node.ts';
import { MeshService } from '../../mesh/mesh-service.ts';
import { readSwarmKey } from '../../node-host/mesh-files.ts';
import { BIN } from './spawn-server.ts';
import { pollUntil } from './mesh-hosts.ts';

/** Joins the mesh through `bootstrap` as a client; the caller stops it. */
export async function startClientPeer(bootstrap: string[], swarmKeyFile?: string): Promise<MeshService> {
  const node = await createMeshNode({
    transports: [tcp(), webSockets()], listen: [], bootstrap,
    swarmKey: swarmKeyFile ? readSwarmKey(swarmKeyFile) : undefined,
  });
  const mesh = new MeshService({ node, role: 'client' });
  await mesh.start();
  return mesh;
}

/** Waits until the client's directory lists exactly `peers` (in any order) as serving `model`. */
export async function waitForServers(client: MeshService, model: string, peers: string[], timeoutMs: number): Promise<void> {
  const want = [...peers].sort().join(',');
  await pollUntil(`the mesh to list exactly [${peers.join(', ')}] serving '${model}'`, () => {
    const got = client.directory.peersServing(model).map((e) => e.peerId).sort().join(',');
    return got === want ? true : undefined;
  }, { timeoutMs, intervalMs: 100 });
}

/**
 * Runs `infermesh infer` (a real client-only process) with a KServe JSON request; resolves
 * with the parsed JSON response it prints.
 */
export function inferViaCli(dir: string, bootstrap: string, model: string, request: unknown, timeoutMs = 60_000): Promise<{ outputs: { name: string; shape: number[]; data: number[] }[] }> {
  const input = join(dir, `request-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(input, JSON.stringify(request));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, 'infer', '--bootstrap', bootstrap, '--model', model, '--input', input, '--wait-ms', '15000'],
      { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
        if (err) reject(new Error(`infermesh infer failed (${err.message}):\n${stderr}\n${stdout}`));
        else {
          try {
            resolve(JSON.parse(stdout));
          } catch {
            reject(new Error(`infermesh infer printed no JSON:\n${stdout}\n${stderr}`));
          }
        }
      });
  });
}
