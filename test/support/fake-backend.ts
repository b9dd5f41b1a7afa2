/**
 * A ModelInstance for scheduler tests: records every batch it is given and answers only when
 * the test says so (one controllable promise per call), computing a deterministic function:
 * output `OUTPUT<k>` = input `INPUT<k>` (or `INPUT0` when there is none) + 1, element-wise,
 * same datatype and shape. BYTES elements get the byte `+` appended instead.
 */
import type { ModelInstance } from '../../core/backend.ts';
import type { ModelSignature } from '../../core/model-config.ts';
import type { TypedTensorArray } from '../../protocol/datatypes.ts';
import type { Tensor } from '../../protocol/tensor.ts';

/** One call of `run`, held until the test settles it. */
export interface FakeCall {
  readonly inputs: Tensor[];
  readonly outputNames: string[];
  /** Leading dimension of the first input (the batch total for a batching model). */
  readonly batchSize: number;
  /** Which instance received it. */
  readonly instance: FakeInstance;
  /** Order of this call among all fake calls of the process. */
  readonly seq: number;
  /** Resolves with the deterministic outputs (or `outputs` when given). */
  resolve(outputs?: Tensor[]): void;
  reject(error: unknown): void;
  readonly settled: boolean;
}

const PLUS = 43; // '+'
let callSeq = 0;

/** OUTPUTk = INPUTk + 1 for every requested output. */
export function fakeCompute(inputs: readonly Tensor[], outputNames: readonly string[]): Tensor[] {
  return outputNames.map((name) => {
    const k = /(\d+)$/.exec(name)?.[1] ?? '0';
    const src = inputs.find((t) => t.name === `INPUT${k}`) ?? inputs.find((t) => t.name === 'INPUT0') ?? inputs[0];
    if (src === undefined) throw new Error(`fake backend: no input for ${name}`);
    let data: Tensor['data'];
    if (src.datatype === 'BYTES') {
      data = (src.data as Uint8Array[]).map((el) => {
        const out = new Uint8Array(el.length + 1);
        out.set(el);
        out[el.length] = PLUS;
        return out;
      });
    } else if (src.data instanceof BigInt64Array || src.data instanceof BigUint64Array) {
      const d = src.data.slice();
      for (let i = 0; i < d.length; i++) d[i] += 1n;
      data = d;
    } else {
      const d = (src.data as Exclude<TypedTensorArray, BigInt64Array | BigUint64Array>).slice();
      for (let i = 0; i < d.length; i++) d[i] += 1;
      data = d;
    }
    return { name, datatype: src.datatype, shape: src.shape.slice(), data };
  });
}

/** A fake instance; `autoResolve` answers every call at once (still asynchronously). */
export class FakeInstance implements ModelInstance {
  readonly device: string;
  readonly signature: ModelSignature = { inputs: [], outputs: [] };
  readonly calls: FakeCall[] = [];
  autoResolve = false;
  disposed = false;

  constructor(device = 'fake') {
    this.device = device;
  }

  /** Calls not yet settled, oldest first. */
  get pending(): FakeCall[] {
    return this.calls.filter((c) => !c.settled);
  }

  run(inputs: Tensor[], outputNames: string[]): Promise<Tensor[]> {
    let settled = false;
    let res!: (t: Tensor[]) => void;
    let rej!: (e: unknown) => void;
    const promise = new Promise<Tensor[]>((a, b) => {
      res = a;
      rej = b;
    });
    const call: FakeCall = {
      inputs,
      outputNames,
      batchSize: inputs[0]?.shape[0] ?? 1,
      instance: this,
      seq: callSeq++,
      resolve: (outputs?: Tensor[]) => {
        if (settled) throw new Error('fake call settled twice');
        settled = true;
        try {
          res(outputs ?? fakeCompute(inputs, outputNames));
        } catch (e) {
          rej(e);
        }
      },
      reject: (error: unknown) => {
        if (settled) throw new Error('fake call settled twice');
        settled = true;
        rej(error);
      },
      get settled() {
        return settled;
      },
    };
    this.calls.push(call);
    if (this.autoResolve) call.resolve();
    return promise;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

/** `n` fake instances. */
export function fakeInstances(n: number): FakeInstance[] {
  return Array.from({ length: n }, (_, i) => new FakeInstance(`fake:${i}`));
}

/** Every call across `instances`, in the order they were made. */
export function allCalls(instances: readonly FakeInstance[]): FakeCall[] {
  const seen: FakeCall[] = [];
  for (const i of instances) seen.push(...i.calls);
  return seen.sort((a, b) => a.seq - b.seq);
}

/**
 * Lets queued microtasks and promise callbacks run (scheduler work after a resolve or an
 * enqueue) without letting any time pass on the fake clock. One macrotask turn drains every
 * chained microtask, so no scheduler state is read half-way.
 */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
