/**
 * The comparison point "what a user would write instead of infermesh": node:http plus
 * onnxruntime-node, one `session.run` per request, KServe v2 JSON in and out. Deliberately
 * plain — no batching, no worker threads, ORT's default session options — but correct for
 * the bench's models (flat or nested `data`, INT32/FP32/INT64/FP64 tensors).
 *
 *   node bench/baseline-server.ts --host 127.0.0.1 --port 0 --model simple=PATH [--model …]
 *       [--intra-op-threads N]
 *
 * Logs `baseline listening url=http://HOST:PORT` on stderr once every session is ready.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    model: { type: 'string', multiple: true, default: [] },
    'intra-op-threads': { type: 'string' },
  },
});

/** KServe datatype → ORT tensor type and typed-array constructor. */
const TYPES: Record<string, { ort: 'int32' | 'float32' | 'int64' | 'float64'; array: (d: number[]) => ort.Tensor['data'] }> = {
  INT32: { ort: 'int32', array: (d) => Int32Array.from(d) },
  FP32: { ort: 'float32', array: (d) => Float32Array.from(d) },
  FP64: { ort: 'float64', array: (d) => Float64Array.from(d) },
  INT64: { ort: 'int64', array: (d) => BigInt64Array.from(d, (v) => BigInt(v)) },
};
const KSERVE_TYPE: Record<string, string> = { int32: 'INT32', float32: 'FP32', float64: 'FP64', int64: 'INT64' };

const options: ort.InferenceSession.SessionOptions = {};
if (values['intra-op-threads'] !== undefined) options.intraOpNumThreads = Number(values['intra-op-threads']);

const sessions = new Map<string, ort.InferenceSession>();
for (const spec of values.model) {
  const eq = spec.indexOf('=');
  sessions.set(spec.slice(0, eq), await ort.InferenceSession.create(spec.slice(eq + 1), options));
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

interface JsonInput { name: string; datatype: string; shape: number[]; data: unknown[] }

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const m = /^\/v2\/models\/([^/]+)\/infer$/.exec(req.url ?? '');
  const session = m ? sessions.get(decodeURIComponent(m[1])) : undefined;
  if (!m || !session || req.method !== 'POST') return send(res, 404, { error: 'Not Found' });
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: string; inputs: JsonInput[] };
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of body.inputs) {
    const type = TYPES[input.datatype];
    if (!type) return send(res, 400, { error: `unsupported datatype ${input.datatype}` });
    feeds[input.name] = new ort.Tensor(type.ort, type.array(input.data.flat(Infinity) as number[]), input.shape);
  }
  const results = await session.run(feeds);
  const outputs = session.outputNames.map((name) => {
    const t = results[name];
    const data = t.type === 'int64' ? Array.from(t.data as BigInt64Array, Number) : Array.from(t.data as ArrayLike<number>);
    return { name, datatype: KSERVE_TYPE[t.type], shape: t.dims, data };
  });
  send(res, 200, { model_name: m[1], model_version: '1', ...(body.id ? { id: body.id } : {}), outputs });
}

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  handle(req, res).catch((e: unknown) => send(res, 400, { error: e instanceof Error ? e.message : String(e) }));
});
server.listen(Number(values.port), values.host, () => {
  const { address, port } = server.address() as AddressInfo;
  process.stderr.write(`baseline listening url=http://${address}:${port}\n`);
});
process.once('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)); });
