/**
 * The serving side of the mesh benchmark, run by bench/mesh-bench.ts as a child process (the
 * second "host": its own event loop, its own core when one is free):
 *
 *   - a mesh node (`createMeshNode`, `@libp2p/tcp` on 127.0.0.1, noise + yamux as in
 *     production) serving `/infermesh/infer/1.0.0` with `handleInfer` and the in-memory
 *     function of mesh-echo.ts, plus a real InferenceServer with `simple` when `--real`;
 *   - a raw `node:net` server, the reference for throughput: a request is a 4-byte big-endian
 *     length and that many bytes, copied into one preallocated buffer (what any receiver that
 *     needs the tensor in one piece must do at least); the answer is 1 byte.
 *
 * Prints `mesh-peer ready <multiaddr> <raw tcp port>` on stderr once both listen. Stops on
 * SIGTERM (and when its parent is gone), exiting normally so `--cpu-prof` can write its file.
 *
 *   node bench/mesh-peer.ts [--real]
 */
import { createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { tcp } from '@libp2p/tcp';
import { createMeshNode } from '../mesh/mesh-node.ts';
import { handleInfer } from '../mesh/infer-handler.ts';
import { REAL_MODEL, serveInMemory, startRealServer } from './mesh-echo.ts';

const { values: args } = parseArgs({ options: { real: { type: 'boolean', default: false } } });

const core = args.real ? await startRealServer() : undefined;
const node = await createMeshNode({ transports: [tcp()], listen: ['/ip4/127.0.0.1/tcp/0'] });
await node.start();
await handleInfer(node, (req, opts) => (core !== undefined && req.modelName === REAL_MODEL ? core.infer(req, { signal: opts.signal }) : serveInMemory(req)));

const raw = createServer({ noDelay: true }, (socket: Socket) => {
  let buf: Buffer | undefined;
  let need = -1;
  let got = 0;
  let header = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    let off = 0;
    while (off < chunk.length) {
      if (need < 0) {
        const take = Math.min(4 - header.length, chunk.length - off);
        header = Buffer.concat([header, chunk.subarray(off, off + take)]);
        off += take;
        if (header.length < 4) return;
        need = header.readUInt32BE(0);
        header = Buffer.alloc(0);
        if (buf === undefined || buf.length !== need) buf = Buffer.allocUnsafe(need);
        got = 0;
      }
      const take = Math.min(need - got, chunk.length - off);
      chunk.copy(buf!, got, off, off + take);
      got += take;
      off += take;
      if (got === need) {
        need = -1;
        socket.write(Buffer.of(1));
      }
    }
  });
  socket.on('error', () => socket.destroy());
});
await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
const rawPort = (raw.address() as { port: number }).port;

const addr = node.multiaddrs().find((a) => a.toString().includes('/tcp/'));
if (addr === undefined) throw new Error('the mesh node has no TCP address');
process.stderr.write(`mesh-peer ready ${addr.toString()} ${rawPort}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  raw.close();
  await node.stop();
  await core?.stop(1_000);
  process.exit(0);
}
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
// the bench kills us on exit, but not if it is itself killed with SIGKILL
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) void stop(); }, 1_000).unref();
