/**
 * The dependency rule of ARCHITECTURE-GUIDE §1 as data plus a checker, so `npm test`
 * enforces it: protocol ← core ← mesh ← {node-host, browser-host}; no `node:*` in shared
 * code; exactly one importer each of onnxruntime-node and onnxruntime-web.
 */

export const FOLDERS = ['protocol', 'core', 'mesh', 'node-host', 'browser-host'] as const;
export type Folder = (typeof FOLDERS)[number];

/** Project folders each folder may import (besides itself). */
const MAY_IMPORT: Record<Folder, readonly Folder[]> = {
  protocol: [],
  core: ['protocol'],
  mesh: ['core', 'protocol'],
  'node-host': ['mesh', 'core', 'protocol'],
  'browser-host': ['mesh', 'core', 'protocol'],
};

/** npm packages a folder may import (prefix match); node-host may import any except those forbidden. */
const PACKAGES_ALLOWED: Record<Folder, (pkg: string) => boolean> = {
  // The generated protobuf codecs need their runtime (the guide's "codec runtime only").
  protocol: (p) => p === 'protons-runtime',
  core: () => false,
  mesh: (p) => (p === 'libp2p' || p.startsWith('@libp2p/') || p.startsWith('@chainsafe/') || p.startsWith('@multiformats/')
    || p.startsWith('it-') || p === 'uint8arrays' || p === 'protons-runtime' || p === 'uint8arraylist') && p !== '@libp2p/tcp',
  // comlink is allowed: the JS model backend's worker threads speak it (js-model-client.ts),
  // as the browser host's worker does; it is runtime-neutral. onnxruntime-web is the browser's.
  'node-host': (p) => p !== 'onnxruntime-web',
  'browser-host': (p) => p !== 'onnxruntime-node' && !p.startsWith('@libp2p/tcp'),
};

/** Globals that shared code must not touch (Node-only). */
const NODE_GLOBALS = /\b(process\.|Buffer\.|Buffer\b(?=\s*[.(])|require\()/;

export interface Violation {
  file: string;
  message: string;
}

/** Module specifiers imported by a source text (static, dynamic, re-exports, type imports). */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[^\w.])(?:import|export)\s*(?:type\s+)?(?:[\w*{}\s,]*?\s*from\s*)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of source.matchAll(re)) out.push(m[1] ?? m[2]);
  return out;
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Drops comments so a comment that mentions `process.env` is not a violation. */
function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/**
 * Checks one file. `file` is the repository-relative path (`core/x.ts`); `resolveFolder`
 * maps a relative import to the top folder it lands in.
 */
export function checkFile(file: string, source: string): Violation[] {
  const folder = file.split('/')[0] as Folder;
  if (!FOLDERS.includes(folder)) return [];
  const v: Violation[] = [];
  for (const spec of importsOf(source)) {
    if (spec.startsWith('.')) {
      const target = resolveRelative(file, spec).split('/')[0];
      if (target === folder) continue;
      if (target === 'test') v.push({ file, message: `imports test code '${spec}' (test/ is imported by nothing)` });
      else if ((FOLDERS as readonly string[]).includes(target) && !MAY_IMPORT[folder].includes(target as Folder)) {
        v.push({ file, message: `${folder}/ must not import ${target}/ ('${spec}'): the rule is protocol ← core ← mesh ← hosts` });
      }
      continue;
    }
    if (spec.startsWith('node:')) {
      if (folder === 'node-host') continue;
      v.push({ file, message: `${folder}/ must not import '${spec}': shared code runs in browsers too` });
      continue;
    }
    const pkg = packageName(spec);
    if (!PACKAGES_ALLOWED[folder](pkg)) v.push({ file, message: `${folder}/ must not import the package '${pkg}'` });
  }
  if (folder !== 'node-host' && NODE_GLOBALS.test(stripComments(source))) {
    v.push({ file, message: `${folder}/ uses a Node-only global (process, Buffer or require): inject it from the host instead` });
  }
  return v;
}

function resolveRelative(file: string, spec: string): string {
  const parts = file.split('/').slice(0, -1);
  for (const seg of spec.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg !== '.') parts.push(seg);
  }
  return parts.join('/');
}
