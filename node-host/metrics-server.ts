/**
 * The Prometheus endpoint on its own port (Triton's `--metrics-port`, 8002): `GET /metrics`
 * renders Triton-named metrics from the models' statistics plus host CPU/memory gauges.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, freemem, totalmem } from 'node:os';
import { formatPrometheus, type SystemMetricsSample } from '../core/prometheus.ts';
import type { InferenceServer } from '../core/inference-server.ts';
import type { MeshService } from '../mesh/mesh-service.ts';
import { formatMeshMetrics } from '../mesh/mesh-metrics.ts';

/** CPU utilisation between two scrapes, from the kernel's per-core tick counters (all cores). */
class CpuSampler {
  #last = this.#read();

  #read(): { idle: number; total: number } {
    let idle = 0;
    let total = 0;
    for (const c of cpus()) {
      const t = c.times;
      idle += t.idle;
      total += t.user + t.nice + t.sys + t.idle + t.irq;
    }
    return { idle, total };
  }

  sample(): number {
    const now = this.#read();
    const dTotal = now.total - this.#last.total;
    const dIdle = now.idle - this.#last.idle;
    this.#last = now;
    return dTotal <= 0 ? 0 : Math.min(1, Math.max(0, 1 - dIdle / dTotal));
  }
}

export class MetricsServer {
  readonly #server: Server;
  readonly #cpu = new CpuSampler();
  readonly #host: string;
  readonly #port: number;

  constructor(core: InferenceServer, options: { host?: string; port?: number; mesh?: MeshService }) {
    this.#host = options.host ?? '0.0.0.0';
    this.#port = options.port ?? 8002;
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics' && path !== '/metrics/') {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end('{"error":"Not Found"}');
        return;
      }
      if (req.method !== 'GET') {
        res.writeHead(405, { 'Content-Type': 'application/json' });
        res.end('{"error":"Method Not Allowed"}');
        return;
      }
      const system: SystemMetricsSample = {
        cpuUtilization: this.#cpu.sample(),
        memoryTotalBytes: totalmem(),
        memoryUsedBytes: totalmem() - freemem(),
      };
      const body = formatPrometheus(core.metricsSamples(), system) + (options.mesh ? formatMeshMetrics(options.mesh) : '');
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) });
      res.end(body);
    });
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, this.#host, () => {
        this.#server.off('error', reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
