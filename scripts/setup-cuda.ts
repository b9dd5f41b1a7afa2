/**
 * The CUDA opt-in: `npm run setup:cuda`. Runs onnxruntime-node's own installer for its CUDA 12
 * execution provider (the .so files are too large for the npm package, so the installer
 * fetches them from NuGet), shows its progress, then checks the provider library is in place
 * and says what to do next, or what went wrong.
 *
 *   node scripts/setup-cuda.ts [--timeout SECONDS] [--force]
 *
 * Never runs by itself: the project's .npmrc sets `onnxruntime-node-install=skip` so that
 * `npm install` does not try the download on machines that cannot reach NuGet.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

/** Long enough for the ~300 MB package on a slow link; short enough that a stalled download ends. */
const DEFAULT_TIMEOUT_S = 600;
/** How often to say that the installer is still working. */
const PROGRESS_EVERY_MS = 10_000;
/** What the CUDA backend checks for (node-host/backend-ort-node.ts). */
const CUDA_LIBRARY = 'libonnxruntime_providers_cuda.so';

const { values } = parseArgs({
  options: { timeout: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  console.log('usage: node scripts/setup-cuda.ts [--timeout SECONDS] [--force]\n' +
    `Downloads onnxruntime-node's CUDA 12 execution provider (default timeout ${DEFAULT_TIMEOUT_S} s).`);
  process.exit(0);
}
const timeoutS = values.timeout === undefined ? DEFAULT_TIMEOUT_S : Number(values.timeout);
if (!Number.isFinite(timeoutS) || timeoutS <= 0) {
  console.error(`setup:cuda: --timeout expects a positive number of seconds, got '${values.timeout}'`);
  process.exit(2);
}

const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('onnxruntime-node/package.json'));
const platform = `${process.platform}/${process.arch}`;
const binDir = join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch);
const installer = join(pkgDir, 'script', 'install.js');
const lib = join(binDir, CUDA_LIBRARY);

// Read from the installer's own metadata, so the manual instructions name what it would fetch.
const metadata = require(join(pkgDir, 'script', 'install-metadata.js')) as {
  packages: Record<string, { name: string; versions: { feed: string; version: string }[] }>;
};
const nuget = metadata.packages[`nuget:${platform}:cuda12`];
const nugetName = nuget?.name ?? 'Microsoft.ML.OnnxRuntime.Gpu.Linux';
const nugetVersion = nuget?.versions[0]?.version ?? (require('onnxruntime-node/package.json') as { version: string }).version;
const nupkgUrl = `https://api.nuget.org/v3-flatcontainer/${nugetName.toLowerCase()}/${nugetVersion}/${nugetName.toLowerCase()}.${nugetVersion}.nupkg`;

function nextSteps(): string {
  const gpu = existsSync('/proc/driver/nvidia/version');
  return [
    `The CUDA execution provider is installed: ${lib} (${(statSync(lib).size / 1e6).toFixed(0)} MB).`,
    'At run time it also needs an NVIDIA driver, the CUDA 12 runtime (cudart, cuBLAS, cuFFT, cuRAND) and cuDNN 9',
    'on the loader path (LD_LIBRARY_PATH or ldconfig). Then start the server as usual: the log line',
    "'execution provider ready backend=onnxruntime-cuda' confirms it; otherwise the server logs why not and serves on the CPU.",
    'Models with instance_group KIND_GPU or KIND_AUTO run on it.',
    gpu ? '' : 'Note: no NVIDIA driver is visible on this machine (/proc/driver/nvidia/version is missing).',
  ].filter(Boolean).join('\n');
}

function manualSteps(): string {
  return [
    'To install it by hand instead: on a machine that can reach NuGet, download',
    `  ${nupkgUrl}`,
    'and copy three files out of it (a .nupkg is a zip) into onnxruntime-node\'s binary folder:',
    `  unzip -j ${nugetName.toLowerCase()}.${nugetVersion}.nupkg 'runtimes/linux-x64/native/libonnxruntime_providers_*.so' -d ${binDir}`,
  ].join('\n');
}

/** Says why the installer failed, from what it printed. */
function diagnose(output: string, code: number | null, timedOut: boolean): string {
  const host = 'api.nuget.org';
  const proxy = process.env.GLOBAL_AGENT_HTTPS_PROXY
    ? `The installer went through the proxy GLOBAL_AGENT_HTTPS_PROXY=${process.env.GLOBAL_AGENT_HTTPS_PROXY}: check it.`
    : 'Behind a proxy, set GLOBAL_AGENT_HTTPS_PROXY=http://HOST:PORT (the installer reads it through global-agent).';
  if (timedOut) {
    return `the installer did not finish within ${timeoutS} s, so it was stopped: the download from ${host} is stalled or too slow ` +
      `(retry with --timeout ${timeoutS * 3}). ${proxy}`;
  }
  if (/Invalid installation: cuda12 for platform/.test(output)) {
    return `onnxruntime-node ${nugetVersion} has no CUDA download for ${platform}`;
  }
  if (/ENOTFOUND|EAI_AGAIN/.test(output)) {
    return `this machine cannot resolve ${host} (no DNS, or no internet access beyond the npm registry): ` +
      `the installer downloads ${nugetName} ${nugetVersion} from NuGet, not from npm. ${proxy}`;
  }
  if (/ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|socket hang up/.test(output)) {
    return `this machine cannot connect to ${host} (a firewall, or no internet access beyond the npm registry). ${proxy}`;
  }
  if (/CERT|certificate|self[- ]signed/i.test(output)) {
    return `the TLS connection to ${host} was refused (an intercepting proxy?): point NODE_EXTRA_CA_CERTS at its CA certificate`;
  }
  const status = /HTTP status code = (\d+)/.exec(output);
  if (status) return `${host} (or a proxy in between) answered HTTP ${status[1]}`;
  if (/Failed to download Nuget index|unexpected content type/.test(output)) {
    return `${host} did not return NuGet's index (a proxy or captive portal answering instead?). ${proxy}`;
  }
  if (/Failed to (resolve package|find specific package versions)/.test(output)) {
    return `NuGet has no ${nugetName} ${nugetVersion}`;
  }
  return `the installer failed (exit code ${code}); its output is above`;
}

/** Bytes of the package the installer is downloading into its temporary folder(s). */
function downloading(startedMs: number): { dirs: string[]; bytes: number } {
  const dirs: string[] = [];
  let bytes = 0;
  for (const name of readdirSync(tmpdir())) {
    // The installer names its folder onnxruntime-node-pkgs_<Date.now()> (script/install-utils.js).
    const m = /^onnxruntime-node-pkgs_(\d+)$/.exec(name);
    if (!m || Number(m[1]) < startedMs - 1000) continue;
    const dir = join(tmpdir(), name);
    dirs.push(dir);
    try {
      for (const f of readdirSync(dir)) if (f.endsWith('.nupkg')) bytes += statSync(join(dir, f)).size;
    } catch { /* removed meanwhile */ }
  }
  return { dirs, bytes };
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`setup:cuda: onnxruntime-node's installer downloads a CUDA execution provider for linux/x64 only; this is ${platform}.`);
  process.exit(1);
}
if (existsSync(lib) && !values.force) {
  console.log(`setup:cuda: already installed (use --force to download again).\n${nextSteps()}`);
  process.exit(0);
}

console.log(`setup:cuda: downloading ${nugetName} ${nugetVersion} from NuGet (about 300 MB) with onnxruntime-node's installer;`);
console.log(`            it puts ${CUDA_LIBRARY} into ${binDir}. Timeout ${timeoutS} s.`);

const started = Date.now();
// How the installer (script/install.js + install-utils.js of onnxruntime-node 1.30) is told:
// - ONNXRUNTIME_NODE_INSTALL=1 forces the download of what this platform lists as required,
//   which on linux/x64 is exactly the `cuda12` manifest. The documented
//   `--onnxruntime-node-install=cuda12` does not work in 1.30: parseInstallFlag's branch for
//   a named value returns nothing, so the value is dropped.
// - Under `npm run`, npm exports npm_config_local_prefix and npm_package_json, which the
//   installer takes for "installing onnxruntime-node's own repository" and exits 0 without
//   doing anything; and npm_config_onnxruntime_node_install=skip from the project's .npmrc.
const env: NodeJS.ProcessEnv = { ...process.env, ONNXRUNTIME_NODE_INSTALL: '1' };
delete env.npm_config_onnxruntime_node_install;
delete env.npm_config_local_prefix;
delete env.npm_package_json;
const child = spawn(process.execPath, [installer], { cwd: pkgDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
let output = '';
const relay = (to: NodeJS.WriteStream) => (chunk: Buffer) => {
  output += chunk.toString();
  for (const line of chunk.toString().split('\n')) if (line.trim()) to.write(`  installer: ${line}\n`);
};
child.stdout.on('data', relay(process.stdout));
child.stderr.on('data', relay(process.stderr));

const progress = setInterval(() => {
  const { bytes } = downloading(started);
  const s = Math.round((Date.now() - started) / 1000);
  console.log(`setup:cuda: ${s} s${bytes ? `, ${(bytes / 1e6).toFixed(1)} MB downloaded` : ', waiting for the download to start'}`);
}, PROGRESS_EVERY_MS);

let timedOut = false;
const deadline = setTimeout(() => {
  timedOut = true;
  child.kill('SIGTERM');
  // The download may ignore SIGTERM while blocked in native code; make sure it ends.
  setTimeout(() => child.kill('SIGKILL'), 5000).unref();
}, timeoutS * 1000);

const code = await new Promise<number | null>((resolve) => {
  child.on('error', (e) => { output += String(e); resolve(null); });
  child.on('exit', (c) => resolve(c));
});
clearInterval(progress);
clearTimeout(deadline);

if (timedOut) {
  // A killed installer does not get to clean its temporary folder.
  for (const dir of downloading(started).dirs) rmSync(dir, { recursive: true, force: true });
}

if (code === 0 && existsSync(lib)) {
  console.log(`setup:cuda: done in ${Math.round((Date.now() - started) / 1000)} s.\n${nextSteps()}`);
  process.exit(0);
}
const why = code === 0 ? `the installer finished but ${lib} is not there (was the download skipped?)` : diagnose(output, code, timedOut);
console.error(`\nsetup:cuda: FAILED: ${why.replace(/\.?$/, '.')}\n${manualSteps()}\nThe CPU backend keeps working without it.`);
process.exit(1);
