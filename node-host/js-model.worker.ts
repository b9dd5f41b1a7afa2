/**
 * Worker thread that holds one instance of a JS model (`model.js`, `model.mjs` or `model.ts`),
 * so a model that computes for a long time, or never yields, does not block the server's
 * event loop. Exposes {@link JsWorkerApi} over comlink; the main thread's end is
 * js-model-client.ts; the contract (and why errors cross as plain objects) is in
 * js-model-protocol.ts.
 *
 * The model is a module exporting, like Triton's Python backend (`TritonPythonModel`):
 *   initialize(args)             optional; args = JsModelArgs + { infer, log }
 *   execute(requests, context)   required; one response per request, in order
 *   finalize()                   optional
 * either as named exports, or as a default export object or class with those methods.
 *
 * Node-only (worker_threads). Runs under Node's own type stripping.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parentPort, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { ModelConfig, ModelOutput } from '../core/model-config.ts';
import type { DataType } from '../protocol/datatypes.ts';
import { configTypeToDataType } from '../protocol/datatypes.ts';
import { InferError } from '../protocol/errors.ts';
import type { Parameters } from '../protocol/infer.ts';
import type { Tensor } from '../protocol/tensor.ts';
import {
  fromCrossingError, toCrossingError, type JsHostApi, type JsLogLevel, type JsModelArgs, type JsModuleSpec,
  type JsWireBlsRequest, type JsWireBlsResponse, type JsWireRequest, type JsWireResult, type JsWorkerApi,
} from './js-model-protocol.ts';
import { bytesToStrings, modelError, modelWireError, packTensors, toTensor } from './js-model-tensors.ts';

if (!parentPort) throw new Error('js-model.worker.ts runs as a worker thread only');

/** The three entry points, bound to whatever object defines them. */
interface ModelHooks {
  initialize?: (args: unknown) => unknown;
  execute: (requests: unknown[], context: unknown) => unknown;
  finalize?: () => unknown;
}

/** What a model passes to `infer` (BLS): Triton's `pb_utils.InferenceRequest` fields. */
interface BlsRequestLike {
  model_name?: unknown;
  model_version?: unknown;
  inputs?: unknown;
  requested_output_names?: unknown;
  parameters?: unknown;
  timeout_ms?: unknown;
  signal?: unknown;
}

let hooks: ModelHooks | undefined;
let config: ModelConfig | undefined;
/** `model 'x' version 1`, as messages name the model. */
let label = 'JavaScript model';
/** The main thread's BLS and log endpoint, from `init` (methods read once, as in js-model-client.ts). */
let host: Pick<Comlink.Remote<JsHostApi>, keyof JsHostApi> | undefined;
/** The requests of running executions by id, each with the AbortController `cancel` aborts. */
const running = new Map<number, AbortController>();
let nextCallId = 1;

function hostApi(): Pick<Comlink.Remote<JsHostApi>, keyof JsHostApi> {
  if (!host) throw new InferError('INTERNAL', `${label}: the worker has no connection to the server yet`, 'BACKEND');
  return host;
}

/** `fields` when it can be cloned; else its text (fields holding functions or other values structured clone refuses). */
function cloneable(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (fields === undefined) return undefined;
  try {
    structuredClone(fields);
    return fields;
  } catch {
    return { fields: String(fields) };
  }
}

/** The model's logger: lines go to the server's log, tagged with the model. */
const log = Object.freeze(Object.fromEntries((['debug', 'info', 'warn', 'error'] as const).map((level: JsLogLevel) => [
  level,
  (message: unknown, fields?: Record<string, unknown>) => {
    hostApi().log(level, String(message), cloneable(fields)).catch(() => { /* the server is gone; nothing to tell */ });
  },
])) as Record<JsLogLevel, (message: unknown, fields?: Record<string, unknown>) => void>);

/** The model's BLS client: runs another model (here, elsewhere in the mesh) and resolves with its outputs. */
function infer(request: BlsRequestLike): Promise<BlsResponse> {
  return new Promise((resolve, reject) => {
    if (typeof request !== 'object' || request === null) throw modelError(`${label}: infer() takes { model_name, inputs, requested_output_names? }`);
    const modelName = request.model_name;
    if (typeof modelName !== 'string' || modelName === '') throw modelError(`${label}: infer() needs a 'model_name' string`);
    const where = `${label}: BLS call to model '${modelName}'`;
    if (!Array.isArray(request.inputs)) throw modelError(`${where}: 'inputs' must be an array of tensors { name, datatype, shape, data }`);
    const inputs = request.inputs.map((t) => toTensor(t, `${where}: input`));
    const wanted = request.requested_output_names;
    if (wanted !== undefined && !(Array.isArray(wanted) && wanted.every((n) => typeof n === 'string'))) {
      throw modelError(`${where}: 'requested_output_names' must be an array of output names`);
    }
    const version = request.model_version;
    if (version !== undefined && typeof version !== 'string' && typeof version !== 'number') throw modelError(`${where}: 'model_version' must be a string or a number`);
    const timeout = request.timeout_ms;
    if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0)) throw modelError(`${where}: 'timeout_ms' must be a positive number of milliseconds`);
    const params = request.parameters;
    if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) throw modelError(`${where}: 'parameters' must be an object`);
    const signal = request.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw modelError(`${where}: 'signal' must be an AbortSignal (e.g. request.signal)`);
    if (signal?.aborted) throw new InferError('CANCELLED', `${where}: cancelled before it was sent`, 'CANCELED');

    const api = hostApi();
    // Copies the model's tensors into fresh buffers, so transferring them leaves the model's arrays intact.
    const packed = packTensors(inputs);
    const callId = nextCallId++;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const onAbort = () => {
      if (!settle()) return;
      api.cancelInfer(callId).catch(() => { /* the server is gone: the call is over anyway */ });
      reject(new InferError('CANCELLED', `${where}: cancelled`, 'CANCELED'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const wire: JsWireBlsRequest = {
      model_name: modelName, inputs: packed.tensors,
      ...(version !== undefined ? { model_version: String(version) } : {}),
      ...(wanted !== undefined ? { requested_output_names: wanted as string[] } : {}),
      ...(params !== undefined ? { parameters: params as Parameters } : {}),
      ...(timeout !== undefined ? { timeout_ms: timeout } : {}),
    };
    api.infer(callId, Comlink.transfer(wire, packed.transfer)).then(
      (r) => { if (settle()) resolve(blsResponse(r)); },
      // An answer after the model gave up (settled) is dropped.
      (e: unknown) => { if (settle()) reject(fromCrossingError(e, (m) => modelError(`${where} failed: ${m}`))); },
    );
  });
}

/** A BLS answer as the model sees it. */
interface BlsResponse {
  model_name: string;
  model_version: string;
  outputs: Tensor[];
  /** The output called `name`; throws when the answer has none. */
  output(name: string): Tensor;
  /** The UTF-8 strings of BYTES output `name`. */
  text(name: string): string[];
}

function blsResponse(r: JsWireBlsResponse): BlsResponse {
  const where = `${label}: BLS answer of model '${r.model_name}'`;
  const output = (name: string): Tensor => {
    const t = r.outputs.find((o) => o.name === name);
    if (!t) throw modelError(`${where} has no output '${name}' (it has ${r.outputs.map((o) => `'${o.name}'`).join(', ') || 'none'}); list it in requested_output_names`);
    return t;
  };
  return { ...r, output, text: (name) => bytesToStrings(output(name), where) };
}

/** One request as `execute` sees it (Triton's `pb_utils.InferenceRequest`, in JS terms). */
function makeRequest(r: JsWireRequest, signal: AbortSignal) {
  const where = `${label}: request`;
  return {
    inputs: r.inputs,
    requested_output_names: r.outputNames,
    /** Aborts when the client goes away or the request's deadline passes; pass it to infer(). */
    signal,
    isCancelled: () => signal.aborted,
    /** The input called `name`, or undefined when the request did not send it (optional inputs). */
    input: (name: string): Tensor | undefined => r.inputs.find((t) => t.name === name),
    /** The UTF-8 strings of BYTES input `name`; throws when it is absent or not BYTES. */
    text: (name: string): string[] => {
      const t = r.inputs.find((x) => x.name === name);
      if (!t) throw new InferError('INVALID_ARG', `${where} has no input '${name}'`);
      return bytesToStrings(t, where);
    },
  };
}

function configOutput(name: string): ModelOutput | undefined {
  return config?.output.find((o) => o.name === name);
}

/** Throws when `t` cannot be the config's output (rank, fixed dimensions, batch size). */
function checkOutputShape(t: Tensor, co: ModelOutput, batchSize: number | undefined, where: string): void {
  const dims = co.reshape ? co.reshape.shape : co.dims;
  const batching = (config?.max_batch_size ?? 0) > 0;
  const want = batching ? [batchSize ?? -1, ...dims] : dims;
  // A scalar may be declared dims [1] without batching (as auto-complete writes it).
  if (!batching && t.shape.length === 0 && want.length === 1 && want[0] === 1) return;
  const ok = t.shape.length === want.length && want.every((d, i) => d === -1 || d === t.shape[i]);
  if (!ok) {
    throw modelError(`${where} '${t.name}': shape ${JSON.stringify(t.shape)} does not fit the config, which declares `
      + `${JSON.stringify(want)}${batching ? ' (batch size first)' : ''} (-1: any size)`);
  }
}

/** One response as the wire result for request `r`: its requested outputs in order, or its error. */
function toWireResult(resp: unknown, r: JsWireRequest, where: string): JsWireResult {
  try {
    if (resp instanceof Error) return { error: modelWireError(resp, `${where}: `) };
    if (typeof resp === 'object' && resp !== null && !Array.isArray(resp) && (resp as { error?: unknown }).error != null) {
      return { error: modelWireError((resp as { error: unknown }).error, `${where}: `) };
    }
    const outputs = Array.isArray(resp) ? resp : (resp as { outputs?: unknown } | null)?.outputs;
    if (typeof outputs !== 'object' || outputs === null) {
      throw modelError(`${where}: expected { outputs: [tensors] } or { error }, got ${resp === null ? 'null' : typeof resp}`);
    }
    const expected = (name: unknown) => {
      const co = typeof name === 'string' ? configOutput(name) : undefined;
      return co ? configTypeToDataType(co.data_type) as DataType : undefined;
    };
    const byName = new Map<string, Tensor>();
    if (Array.isArray(outputs)) {
      for (const o of outputs) {
        const name = (o as { name?: unknown } | null)?.name;
        const t = toTensor(o, `${where}: output`, { datatype: expected(name) });
        byName.set(t.name, t);
      }
    } else {
      for (const [name, o] of Object.entries(outputs)) {
        byName.set(name, toTensor(o, `${where}: output`, { name, datatype: expected(name) }));
      }
    }
    const batchSize = (config?.max_batch_size ?? 0) > 0 ? r.inputs[0]?.shape[0] : undefined;
    const selected = r.outputNames.map((name) => {
      const t = byName.get(name);
      if (!t) {
        throw modelError(`${where}: execute returned no output '${name}', which the request asks for `
          + `(it returned ${[...byName.keys()].map((n) => `'${n}'`).join(', ') || 'none'})`);
      }
      const co = configOutput(name);
      if (co) checkOutputShape(t, co, batchSize, `${where}: output`);
      return t;
    });
    return { outputs: selected };
  } catch (e) {
    return { error: modelWireError(e, `${where}: `) };
  }
}

function requireHooks(): ModelHooks {
  if (!hooks) throw new InferError('UNAVAILABLE', `${label}: the model is not initialised`);
  return hooks;
}

/** The entry points of a model module: named exports, or a default export object or class. */
function resolveHooks(mod: Record<string, unknown>, file: string): ModelHooks {
  for (const c of [mod, mod.default]) {
    if (typeof c === 'object' && c !== null && typeof (c as ModelHooks).execute === 'function') return bind(c as ModelHooks);
    if (typeof c === 'function' && typeof (c.prototype as ModelHooks | undefined)?.execute === 'function') {
      return bind(new (c as new () => ModelHooks)());
    }
  }
  throw new InferError('INVALID_ARG', `${file} exports no execute function; export `
    + '`async function execute(requests) { … }` (and optionally initialize(args) and finalize()), or a default object or class with them');
}

function bind(o: ModelHooks): ModelHooks {
  return {
    execute: o.execute.bind(o),
    initialize: typeof o.initialize === 'function' ? o.initialize.bind(o) : undefined,
    finalize: typeof o.finalize === 'function' ? o.finalize.bind(o) : undefined,
  };
}

/**
 * Why an import failed, with the file and line of a syntax error. Node puts the location in
 * the stack for TypeScript and CommonJS, but not for an ES module's syntax error; then
 * `node --check` (a child process, on this failure path only) says where it is.
 */
function importFailure(e: unknown, url: string): string {
  const err = e as { name?: string; message?: string; stack?: string } | null;
  const message = err?.message ?? String(e);
  if (err?.name !== 'SyntaxError') return message;
  const located = (text: string | undefined) => text?.split('\n').find((l) => /^(\/|file:|[A-Za-z]:\\).*:\d+$/.test(l.trim()))?.trim();
  let where = located(err.stack);
  if (!where) {
    const check = spawnSync(process.execPath, ['--check', fileURLToPath(url)], { encoding: 'utf8', timeout: 10_000 });
    where = located(check.stderr);
  }
  return where ? `SyntaxError at ${where}: ${message}` : `SyntaxError: ${message}`;
}

/** Imports the model and runs initialize. Errors are worded for a load failure (the registry names the model). */
async function init(hostPort: MessagePort, module: JsModuleSpec, args: JsModelArgs, modelLabel: string): Promise<void> {
  label = modelLabel;
  if (hooks) throw new InferError('INTERNAL', `${label}: this worker already holds the model`);
  const remote = Comlink.wrap<JsHostApi>(nodeEndpoint(hostPort));
  host = { infer: remote.infer, cancelInfer: remote.cancelInfer, log: remote.log };
  config = args.model_config;
  const file = decodeURIComponent(new URL(module.url).pathname.split('/').pop() ?? '');
  let mod: Record<string, unknown>;
  try {
    mod = await import(module.url) as Record<string, unknown>;
  } catch (e) {
    throw new InferError('INVALID_ARG', `could not import ${file}: ${importFailure(e, module.url)}`);
  }
  const h = resolveHooks(mod, file);
  try {
    await h.initialize?.({ ...args, infer, log });
  } catch (e) {
    const w = modelWireError(e, 'initialize failed: ');
    throw new InferError(w.code, w.message, w.reason);
  }
  hooks = h;
}

/**
 * Runs `execute`. Each request's AbortController is registered before the first await, so a
 * `cancel` (which comlink delivers after this call) always finds it.
 */
async function execute(requests: JsWireRequest[]): Promise<JsWireResult[]> {
  const h = requireHooks();
  const controllers = requests.map((r) => {
    const c = new AbortController();
    running.set(r.id, c);
    return c;
  });
  try {
    const views = requests.map((r, i) => makeRequest(r, controllers[i].signal));
    let responses: unknown;
    try {
      responses = await h.execute(views, { infer, log });
    } catch (e) {
      // As in Triton's Python backend, an exception fails every request of the execution.
      const w = modelWireError(e, `${label}: execute failed: `);
      throw new InferError(w.code, w.message, w.reason);
    }
    if (!Array.isArray(responses) || responses.length !== requests.length) {
      throw modelError(`${label}: execute must return an array with one response per request (${requests.length}), `
        + `got ${Array.isArray(responses) ? `${responses.length} response(s)` : String(responses)}`);
    }
    const n = requests.length;
    return responses.map((resp, i) => toWireResult(resp, requests[i], n > 1 ? `${label}: response ${i}` : label));
  } finally {
    for (const r of requests) running.delete(r.id);
  }
}

async function finalize(): Promise<void> {
  const h = hooks;
  hooks = undefined;
  try {
    await h?.finalize?.();
  } catch (e) {
    const w = modelWireError(e, `${label}: finalize failed: `);
    throw new InferError(w.code, w.message, w.reason);
  }
}

/** Outputs copied into fresh buffers (the model may keep its arrays), marked for transfer. */
function transferable(results: JsWireResult[]): JsWireResult[] {
  const transfer: ArrayBuffer[] = [];
  const packed = results.map((r): JsWireResult => {
    if ('error' in r) return r;
    const p = packTensors(r.outputs);
    transfer.push(...p.transfer);
    return { outputs: p.tensors };
  });
  return Comlink.transfer(packed, transfer);
}

/** Runs an exposed method; what it throws crosses as a plain object, so its code survives. */
async function crossing<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    throw toCrossingError(modelWireError(e, ''));
  }
}

const api: JsWorkerApi = {
  init: (hostPort, module, args, modelLabel) => crossing(() => init(hostPort, module, args, modelLabel)),
  execute: (requests) => crossing(async () => transferable(await execute(requests))),
  cancel: (requestId) => {
    running.get(requestId)?.abort(new InferError('CANCELLED', `${label}: request cancelled`, 'CANCELED'));
  },
  finalize: () => crossing(finalize),
};
Comlink.expose(api, nodeEndpoint(parentPort));
