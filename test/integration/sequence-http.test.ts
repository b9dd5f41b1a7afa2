import { it, expect } from 'vitest';
import { mkdtempSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, EXAMPLES } from '../support/test-server.ts';

it('smoke', async () => {
  const repo = mkdtempSync(join(tmpdir(), 'seq-'));
  cpSync(join(EXAMPLES, 'sequence_accumulate'), join(repo, 'sequence_accumulate'), { recursive: true });
  const s = await startTestServer({ repositories: [repo] });
  try {
    const cfg = await s.client.get('/v2/models/sequence_accumulate/config');
    console.log(cfg.status, cfg.text.slice(0, 300));
    const send = (id: number | string, x: number, start = false, end = false) => s.client.inferRaw({
      modelName: 'sequence_accumulate', parameters: { sequence_id: id, sequence_start: start, sequence_end: end },
      inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 4], data: new Float32Array([x, x, x, x]) }],
    });
    for (const r of await Promise.all([send(1, 1, true), send('a', 10, true)])) console.log(r.status, r.text);
    for (const r of await Promise.all([send(1, 2), send('a', 20)])) console.log(r.status, r.text);
    for (const r of await Promise.all([send(1, 3, false, true), send('a', 30), send(7, 1)])) console.log(r.status, r.text);
    console.log((await send(1, 3)).text);
  } finally { await s.stop(); }
});
