import { describe, expect, test } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkFile, FOLDERS, importsOf } from '../support/import-rules.ts';

const root = join(import.meta.dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  let out: string[] = [];
  let entries: string[] = [];
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(sourceFiles(p));
    else if (/\.(ts|js|mjs)$/.test(e)) out.push(relative(root, p));
  }
  return out;
}

const files = FOLDERS.flatMap((f) => sourceFiles(join(root, f)));
const read = (f: string) => readFileSync(join(root, f), 'utf8');

describe('dependency rule (ARCHITECTURE-GUIDE §1)', () => {
  test('the checker itself catches violations', () => {
    expect(checkFile('core/x.ts', "import { a } from '../node-host/y.ts';")).toHaveLength(1);
    expect(checkFile('core/x.ts', "import { readFile } from 'node:fs';")).toHaveLength(1);
    expect(checkFile('protocol/x.ts', "import type { A } from '../core/a.ts';")).toHaveLength(1);
    expect(checkFile('core/x.ts', 'const a = process.env.X;')).toHaveLength(1);
    expect(checkFile('core/x.ts', '// process.env is read by the CLI only\nconst a = 1;')).toHaveLength(0);
    expect(checkFile('mesh/x.ts', "import { tcp } from '@libp2p/tcp';")).toHaveLength(1);
    expect(checkFile('browser-host/x.ts', "const m = await import('onnxruntime-node');")).toHaveLength(1);
    expect(checkFile('node-host/x.ts', "import { a } from '../core/a.ts';\nimport 'node:fs';")).toHaveLength(0);
    expect(importsOf("export * from './a.ts';\nimport type { B } from \"./b.ts\";")).toEqual(['./a.ts', './b.ts']);
  });

  test('there are source files to check', () => {
    expect(files.filter((f) => f.startsWith('core/')).length).toBeGreaterThan(5);
    expect(files.filter((f) => f.startsWith('protocol/')).length).toBeGreaterThan(3);
  });

  test('every folder imports only what the rule allows', () => {
    const violations = files.flatMap((f) => checkFile(f, read(f)));
    expect(violations).toEqual([]);
  });

  // The product's folders only: bench/ baselines import onnxruntime-node directly on purpose
  // (they measure what a user would write without infermesh).
  test('exactly one product file imports onnxruntime-node, at most one onnxruntime-web', () => {
    const importers = (pkg: string) => files.filter((f) => importsOf(read(f)).some((s) => s === pkg || s.startsWith(pkg + '/')));
    expect(importers('onnxruntime-node')).toEqual(['node-host/ort-session.worker.ts']);
    expect(importers('onnxruntime-web').length).toBeLessThanOrEqual(1);
  });
});
