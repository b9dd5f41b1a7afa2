/**
 * Prometheus lines for the mesh (infermesh's own families, next to Triton's `nv_*`): peers
 * known, age of each peer's last report, routed requests by outcome, and failovers.
 */
import type { MeshService } from './mesh-service.ts';

/** Renders the mesh families for `/metrics`. */
export function formatMeshMetrics(mesh: MeshService): string {
  const snap = mesh.snapshot();
  const c = mesh.counters;
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  family('infermesh_mesh_peers', 'gauge', 'Peers in the directory (with a report or a connection)');
  out.push(`infermesh_mesh_peers ${snap.peers.length}`);
  family('infermesh_mesh_connected_peers', 'gauge', 'Peers with an open connection');
  out.push(`infermesh_mesh_connected_peers ${snap.peers.filter((p) => p.connected).length}`);
  family('infermesh_mesh_report_age_seconds', 'gauge', "Age of each peer's last status report in seconds");
  for (const p of snap.peers) if (p.age_ms !== null) out.push(`infermesh_mesh_report_age_seconds{peer="${p.peer_id}"} ${p.age_ms / 1000}`);
  family('infermesh_mesh_routed_requests_total', 'counter', 'Requests the router sent, by where they went or failing for good');
  out.push(`infermesh_mesh_routed_requests_total{outcome="local"} ${c.routedLocal}`);
  out.push(`infermesh_mesh_routed_requests_total{outcome="remote"} ${c.routedRemote}`);
  out.push(`infermesh_mesh_routed_requests_total{outcome="failed"} ${c.failed}`);
  family('infermesh_mesh_retries_total', 'counter', 'Attempts beyond the first (failovers to another host)');
  out.push(`infermesh_mesh_retries_total ${c.retries}`);
  return out.join('\n') + '\n';
}
