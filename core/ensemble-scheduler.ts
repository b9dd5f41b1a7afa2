/**
 * Triton's ensemble scheduler (COMPAT-NOTES §3.6, `ensemble_models.md`): an event-driven
 * dataflow over the steps of `ensemble_scheduling`. A step starts as soon as every ensemble
 * tensor it reads is available, so independent steps run concurrently; the request is answered
 * when every step its outputs need has finished.
 *
 * Steps are inference requests to other models made through `callModel`: the server's own
 * `infer`, or — on a mesh host — the mesh router, so a step runs on whichever peer serves its
 * model. Composing models keep their own schedulers, batchers and statistics.
 *
 * - Errors: the first failing step fails the request; the others are cancelled. The message
 *   names the ensemble, the step and its model; the step's code is kept, except that a step
 *   model nobody serves is UNAVAILABLE (the ensemble exists; a step's model is missing).
 * - Cancellation: the request's signal cancels the running steps (and steps waiting for a
 *   `max_inflight_requests` slot).
 * - Statistics: one execution per successful request (inference_count += its batch size), as
 *   Triton counts ensembles. Triton's ensemble queue/compute times are sums of the composing
 *   models' times, which a mesh call does not return; here queue = time steps waited for a
 *   `max_inflight_requests` slot, compute_infer = the rest of the ensemble's run.
 * - Request parameters go to every step (sequence ids, priority, custom ones) except
 *   `timeout`, which Triton also withholds from composing requests, plus a nesting depth that
 *   stops a cycle between ensembles on different hosts, which no host can see at load time.
 */
import { InferError, internal, invalidArg, toWireError } from '../protocol/errors.ts';
import { configTypeToDataType } from '../protocol/datatypes.ts';
import type { InferInput, InferRequest, Parameters } from '../protocol/infer.ts';
import type { Tensor } from '../protocol/tensor.ts';
import type { Clock } from './clock.ts';
import { msToNs } from './clock.ts';
import { DrainWaiters } from './drain-waiters.ts';
import { buildEnsembleGraph, checkEnsembleSteps, fitBatchDim, neededSteps, stepLabel } from './ensemble-graph.ts';
import type { EnsembleGraph, EnsembleStep, ModelConfigLookup } from './ensemble-graph.ts';
import { InflightLimit } from './inflight-limit.ts';
import type { Logger } from './logger.ts';
import { silentLogger } from './logger.ts';
import type { ModelCaller } from './model-caller.ts';
import type { ModelConfig } from './model-config.ts';
import type { ModelStats } from './model-stats.ts';
import type { ScheduledRequest, ScheduledResult, Scheduler } from './scheduler.ts';
import { cancelledError, closedError } from './scheduler-errors.ts';

/**
 * Request parameter carrying how deeply ensembles are nested (0 or absent for a client's
 * request). Steps receive it plus one.
 */
export const ENSEMBLE_DEPTH_PARAMETER = 'infermesh_ensemble_depth';

/**
 * Deepest nesting of ensembles accepted. Real pipelines nest two or three deep; the limit
 * exists so that ensembles calling each other in a cycle across hosts fail fast instead of
 * multiplying requests until their deadline.
 */
export const DEFAULT_MAX_ENSEMBLE_DEPTH = 16;

/** Request parameters that must not reach the steps (see the file comment). */
const WITHHELD_PARAMETERS: ReadonlySet<string> = new Set(['timeout', 'binary_data_output', ENSEMBLE_DEPTH_PARAMETER]);

/** What an ensemble scheduler is built from. */
export interface EnsembleSchedulerInit {
  /** The normalised, validated ensemble config. */
  config: ModelConfig;
  /** How steps reach their models (local server or the mesh). */
  callModel: ModelCaller;
  clock: Clock;
  /** Receives one `recordExecution` per successful request. */
  stats: ModelStats;
  logger?: Logger;
  /**
   * Configs of models this host serves: used at construction to check the steps (Triton's
   * load-time rules) and per request to fit batch dimensions between batching and
   * non-batching models. Steps on models only peers serve are passed through unchanged.
   */
  modelConfigOf?: ModelConfigLookup;
  /** Default {@link DEFAULT_MAX_ENSEMBLE_DEPTH}. */
  maxDepth?: number;
}

/** An ensemble tensor during one request: the data and its batch (0 = no batch dimension). */
interface Value {
  tensor: Tensor;
  batch: number;
}

export class EnsembleScheduler implements Scheduler {
  /** The compiled dataflow (exposed for logs and tests). */
  readonly graph: EnsembleGraph;
  /** Step models not served by this host when the ensemble loaded (looked up per request). */
  readonly remoteSteps: readonly string[];
  readonly #config: ModelConfig;
  readonly #callModel: ModelCaller;
  readonly #clock: Clock;
  readonly #stats: ModelStats;
  readonly #logger: Logger;
  readonly #lookup: ModelConfigLookup;
  readonly #maxDepth: number;
  readonly #limits: InflightLimit[];
  #active = 0;
  #closed: string | undefined = undefined;
  readonly #drained = new DrainWaiters(() => this.#active === 0);

  /** Throws INVALID_ARG when the ensemble is malformed or disagrees with a composing model this host serves. */
  constructor(init: EnsembleSchedulerInit) {
    this.#config = init.config;
    this.#callModel = init.callModel;
    this.#clock = init.clock;
    this.#stats = init.stats;
    this.#logger = init.logger ?? silentLogger;
    this.#lookup = init.modelConfigOf ?? (() => undefined);
    this.#maxDepth = init.maxDepth ?? DEFAULT_MAX_ENSEMBLE_DEPTH;
    this.graph = buildEnsembleGraph(init.config);
    this.remoteSteps = checkEnsembleSteps(init.config, this.graph, this.#lookup);
    const limit = init.config.ensemble_scheduling?.max_inflight_requests ?? 0;
    this.#limits = this.graph.steps.map(() => new InflightLimit(limit));
  }

  /** Step calls waiting for a `max_inflight_requests` slot (nothing else waits in an ensemble). */
  get pendingCount(): number {
    let n = 0;
    for (const l of this.#limits) n += l.waiting;
    return n;
  }

  async schedule(request: ScheduledRequest): Promise<ScheduledResult> {
    if (this.#closed !== undefined) throw closedError(this.#closed);
    if (request.signal?.aborted) throw cancelledError();
    const depth = Number(request.parameters?.[ENSEMBLE_DEPTH_PARAMETER] ?? 0);
    if (!Number.isSafeInteger(depth) || depth < 0 || depth >= this.#maxDepth) {
      throw invalidArg(`ensemble '${this.#config.name}': ensembles are nested ${depth} deep (parameter '${ENSEMBLE_DEPTH_PARAMETER}'), `
        + `the limit is ${this.#maxDepth}: do ensembles on different hosts call each other in a cycle?`);
    }
    this.#active++;
    try {
      return await this.#run(request, depth);
    } finally {
      this.#active--;
      this.#drained.check();
    }
  }

  drain(): Promise<void> {
    return this.#drained.wait();
  }

  close(reason: string): void {
    if (this.#closed !== undefined) return;
    this.#closed = reason;
    const error = closedError(reason);
    for (const l of this.#limits) l.failWaiting(error);
  }

  /** Runs the dataflow for one request. */
  #run(request: ScheduledRequest, depth: number): Promise<ScheduledResult> {
    const { graph } = this;
    const start = this.#clock.now();
    const batching = this.#config.max_batch_size > 0;
    const values = new Map<string, Value>();
    for (const t of request.inputs) values.set(t.name, { tensor: t, batch: batching ? request.batchSize : 0 });
    const needed = neededSteps(graph, request.outputNames);
    // Distinct tensors each needed step still waits for.
    const missing = graph.steps.map((s, i) => (needed[i] ? new Set(s.inputs.map((x) => x.tensor).filter((t) => !values.has(t))).size : -1));
    const parameters = stepParameters(request.parameters, depth);
    const internalAbort = new AbortController();
    let queueMs = 0;

    return new Promise<ScheduledResult>((resolve, reject) => {
      let running = 0;
      let settled = false;
      const onClientAbort = () => fail(cancelledError());
      const finish = (outcome: () => void) => {
        settled = true;
        request.signal?.removeEventListener('abort', onClientAbort);
        outcome();
      };
      const fail = (error: InferError) => {
        if (settled) return;
        // Steps still running are cancelled: nobody will read their answers.
        internalAbort.abort();
        finish(() => reject(error));
      };
      const complete = () => {
        if (settled) return;
        try {
          const outputs = request.outputNames.map((name) => this.#ensembleOutput(name, values, needed));
          const end = this.#clock.now();
          const queueNs = msToNs(queueMs);
          const computeInferNs = Math.max(0, msToNs(end - start) - queueNs);
          this.#stats.recordExecution(Math.max(1, request.batchSize), 0, computeInferNs, 0);
          finish(() => resolve({ outputs, timing: { queueNs, computeInputNs: 0, computeInferNs, computeOutputNs: 0 } }));
        } catch (e) {
          fail(asInferError(e));
        }
      };
      const launch = (step: EnsembleStep) => {
        running++;
        const waitStart = this.#clock.now();
        const limit = this.#limits[step.index];
        let holding = false;
        limit.acquire(internalAbort.signal)
          .then(() => {
            holding = true;
            queueMs += this.#clock.now() - waitStart;
            if (settled) throw cancelledError();
            return this.#callModel(this.#stepRequest(step, values, parameters), { signal: internalAbort.signal });
          })
          .then((resp) => {
            if (settled) return; // failed or cancelled meanwhile: nothing more starts
            this.#storeOutputs(step, resp.outputs, values, request.batchSize);
            for (const { tensor } of step.outputs) {
              for (const c of graph.consumers.get(tensor) ?? []) {
                if (missing[c] > 0 && --missing[c] === 0) launch(graph.steps[c]);
              }
            }
          })
          .catch((e: unknown) => {
            if (!settled) fail(this.#stepError(step, e));
          })
          .finally(() => {
            if (holding) limit.release();
            if (--running === 0 && !settled) complete();
          });
      };

      request.signal?.addEventListener('abort', onClientAbort, { once: true });
      const ready = graph.steps.filter((s) => missing[s.index] === 0);
      for (const s of ready) launch(s);
      if (running === 0) complete();
    });
  }

  /** The request a step sends: its inputs renamed to the composing model's names. */
  #stepRequest(step: EnsembleStep, values: Map<string, Value>, parameters: Parameters): InferRequest {
    const model = this.#lookup(step.modelName, step.modelVersion);
    const inputs: InferInput[] = step.inputs.map(({ name, tensor }) => {
      const v = values.get(tensor)!;
      const decl = model?.input.find((i) => i.name === name);
      const shape = decl && model ? fitBatchDim(decl.dims, model.max_batch_size > 0, v.batch, v.tensor.shape) : v.tensor.shape;
      return { name, datatype: v.tensor.datatype, shape, data: v.tensor.data };
    });
    const req: InferRequest = { modelName: step.modelName, parameters, inputs, outputs: step.outputs.map((o) => ({ name: o.name })) };
    if (step.modelVersion !== undefined) req.modelVersion = step.modelVersion;
    return req;
  }

  /** Files a step's answer under the ensemble tensor names of its output_map. */
  #storeOutputs(step: EnsembleStep, outputs: readonly Tensor[], values: Map<string, Value>, requestBatch: number): void {
    const model = this.#lookup(step.modelName, step.modelVersion);
    for (const { name, tensor } of step.outputs) {
      const t = outputs.find((o) => o.name === name);
      if (!t) {
        throw internal(`model '${step.modelName}' answered without output '${name}' (it answered ${outputs.map((o) => `'${o.name}'`).join(', ') || 'no outputs'})`);
      }
      // Batch of the tensor: the step model's when known, else assumed to follow the ensemble's.
      const batch = model
        ? (model.max_batch_size > 0 ? (t.shape[0] ?? 0) : 0)
        : (this.#config.max_batch_size > 0 ? requestBatch : 0);
      values.set(tensor, { tensor: { ...t, name: tensor }, batch });
    }
  }

  /** One requested ensemble output, checked against the ensemble's config. */
  #ensembleOutput(name: string, values: Map<string, Value>, needed: boolean[]): Tensor {
    const e = `ensemble '${this.#config.name}'`;
    const v = values.get(name);
    const decl = this.#config.output.find((o) => o.name === name)!;
    if (!v) {
      // Only possible when an optional ensemble input was left out and a step needed it.
      const step = this.graph.steps.find((s, i) => needed[i] && s.inputs.some((x) => !values.has(x.tensor)));
      const absent = step?.inputs.find((x) => !values.has(x.tensor))?.tensor;
      throw invalidArg(`${e}: output '${name}' could not be computed: ${step ? `${stepLabel(step)} needs tensor '${absent}', which the request did not provide` : 'no step produced it'}`);
    }
    const batching = this.#config.max_batch_size > 0;
    const dims = decl.reshape ? decl.reshape.shape : decl.dims;
    const shape = fitBatchDim(dims, batching, v.batch, v.tensor.shape);
    const want = configTypeToDataType(decl.data_type);
    const itemShape = batching ? shape.slice(1) : shape;
    if (v.tensor.datatype !== want || itemShape.length !== dims.length || dims.some((d, i) => d !== -1 && d !== itemShape[i])) {
      const step = this.graph.steps[this.graph.producer.get(name)!];
      throw internal(`${e}: output '${name}' from ${stepLabel(step)} is ${v.tensor.datatype} [${shape.join(',')}], `
        + `but the ensemble declares ${want} [${(batching ? [-1, ...dims] : dims).join(',')}]; make the ensemble's output config match the model's output`);
    }
    return { ...v.tensor, shape };
  }

  /** A step's failure as the ensemble reports it (see the file comment). */
  #stepError(step: EnsembleStep, e: unknown): InferError {
    const w = toWireError(e);
    const at = `ensemble '${this.#config.name}' ${stepLabel(step)}`;
    if (w.code === 'NOT_FOUND') {
      return new InferError('UNAVAILABLE', `${at}: ${w.message}; load model '${step.modelName}' on this host or on a peer of the mesh`);
    }
    // Triton counts an ensemble's failures as OTHER (cancellations stay CANCELED).
    return new InferError(w.code, `${at} failed: ${w.message}`, w.code === 'CANCELLED' ? 'CANCELED' : 'OTHER');
  }
}

/** The parameters every step of one request receives (see the file comment). */
function stepParameters(p: Parameters | undefined, depth: number): Parameters {
  const out: Parameters = {};
  for (const [k, v] of Object.entries(p ?? {})) if (!WITHHELD_PARAMETERS.has(k)) out[k] = v;
  out[ENSEMBLE_DEPTH_PARAMETER] = depth + 1;
  return out;
}

function asInferError(e: unknown): InferError {
  const w = toWireError(e);
  return new InferError(w.code, w.message, w.reason);
}
