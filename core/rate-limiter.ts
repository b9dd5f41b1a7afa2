/**
 * Triton's rate limiter (`--rate-limit execution_count`; COMPAT-NOTES §3.9, Triton
 * `docs/user_guide/rate_limiter.md` and `core/src/rate_limiter.cc`), shared by every model of
 * one server so it can arbitrate across models.
 *
 * Every model instance registers what one execution needs (its instance group's
 * `rate_limiter { resources [...] priority }`). Before running, a scheduler asks the instance's
 * gate for those resources and gives them back afterwards:
 * - Resources are counted per device, or once for the whole server when `global`. A
 *   resource's available count is the largest count any registered instance asks for on that
 *   device (so every instance can run alone), unless the host gives counts explicitly
 *   (`--rate-limit-resource name:count[:device]`): then every resource in use must be given
 *   one, and a count below an instance's need fails that model's load, with Triton's message.
 * - Waiting instances are served strictly in order of `executions × priority` (lowest first;
 *   priority 0 counts as 1), ties in arrival order. So `priority` is a weight: an instance with
 *   priority 2 gets half the turns of one with priority 1. The first in line blocks those
 *   behind it until its resources free up, as in Triton (a big request is never starved by
 *   small ones).
 *
 * One departure: Triton tries one allocation per stage/release event; this allocates as many
 * waiting instances, in order, as the freed resources allow, so no resource sits idle while
 * someone waits for it.
 *
 * Device numbers: a `cuda:N` instance is on device N; every other instance (CPU, WebGPU,
 * WASM) is on device 0, as Triton numbers CPU instances.
 */
import { invalidArg, internal } from '../protocol/errors.ts';
import type { ModelRateLimiter } from './model-config.ts';

/** A resource count the host sets (Triton's `--rate-limit-resource=<name>:<count>[:<device>]`). */
export interface RateLimitResource {
  name: string;
  count: number;
  /** The device it applies to; absent = every device (and the count of a global resource). */
  device?: number;
}

/** Construction options of RateLimiter. */
export interface RateLimiterInit {
  /** Explicit counts; when any is given, every resource a model uses must be given one. */
  resources?: readonly RateLimitResource[];
}

/** What one instance of a model needs to execute. */
export interface InstanceLimits {
  /** The instance group's `rate_limiter` (absent: no resources, priority 1). */
  rateLimiter?: ModelRateLimiter;
  /** Device string of the instance (`cpu`, `cuda:1`, …). */
  device: string;
}

/** The handle a scheduler uses around each execution on one instance. */
export interface InstanceGate {
  /**
   * Takes the instance's resources. Returns undefined when they were taken at once, or a
   * promise that resolves once they are. Call `release` exactly once afterwards.
   */
  acquire(): Promise<void> | undefined;
  /** Gives the resources back (the execution finished or was skipped). */
  release(): void;
}

/** Resource map key of a global resource. */
const GLOBAL = 'global';

/** The device a resource of an instance counts against. */
export function deviceNumber(device: string): number {
  const m = /^(?:cuda|gpu)[:_]?(\d+)$/i.exec(device);
  return m ? Number(m[1]) : 0;
}

/** One registered instance. */
class Gate implements InstanceGate {
  readonly model: string;
  /** Resource key (`global/R` or `<device>/R`) → count needed per execution. */
  readonly needs: ReadonlyMap<string, number>;
  readonly priority: number;
  executions = 0;
  /** Order it joined the line, for ties. */
  seq = 0;
  state: 'idle' | 'waiting' | 'running' = 'idle';
  wake: (() => void) | undefined = undefined;
  readonly #limiter: RateLimiter;

  constructor(limiter: RateLimiter, model: string, needs: Map<string, number>, priority: number) {
    this.#limiter = limiter;
    this.model = model;
    this.needs = needs;
    this.priority = Math.max(1, priority);
  }

  acquire(): Promise<void> | undefined {
    return this.#limiter.acquire(this);
  }

  release(): void {
    this.#limiter.release(this);
  }

  /** Turns already taken, weighted: lower goes first. */
  get weight(): number {
    return this.executions * this.priority;
  }
}

/** The server-wide rate limiter. Instances register at load and unregister at unload. */
export class RateLimiter {
  readonly #explicit: readonly RateLimitResource[];
  readonly #gates = new Set<Gate>();
  /** Resource key → count available (recomputed on every register/unregister). */
  #limits = new Map<string, number>();
  readonly #inUse = new Map<string, number>();
  /** Instances waiting for resources (few: at most one per instance). */
  readonly #waiting: Gate[] = [];
  #seq = 0;

  constructor(init: RateLimiterInit = {}) {
    for (const r of init.resources ?? []) {
      if (!r.name) throw invalidArg('a rate limiter resource needs a name');
      if (!Number.isSafeInteger(r.count) || r.count < 0) throw invalidArg(`rate limiter resource '${r.name}': count must be a non-negative integer, got ${r.count}`);
      if (r.device !== undefined && (!Number.isSafeInteger(r.device) || r.device < 0)) {
        throw invalidArg(`rate limiter resource '${r.name}': device must be a non-negative integer, got ${r.device}`);
      }
    }
    this.#explicit = init.resources ?? [];
  }

  /**
   * Registers the instances of one model version (index-aligned gates come back). Throws
   * INVALID_ARG, registering nothing, when the counts cannot let every instance run.
   */
  register(model: string, instances: readonly InstanceLimits[]): InstanceGate[] {
    const gates = instances.map((inst) => {
      const needs = new Map<string, number>();
      const device = deviceNumber(inst.device);
      for (const r of inst.rateLimiter?.resources ?? []) {
        const key = r.global ? `${GLOBAL}/${r.name}` : `${device}/${r.name}`;
        needs.set(key, Math.max(needs.get(key) ?? 0, r.count));
      }
      return new Gate(this, model, needs, inst.rateLimiter?.priority ?? 0);
    });
    for (const g of gates) this.#gates.add(g);
    try {
      this.#limits = this.#computeLimits(model);
    } catch (e) {
      for (const g of gates) this.#gates.delete(g);
      throw e;
    }
    this.#allocate();
    return gates;
  }

  /** Removes instances (after their model drained). Their resources count no more. */
  unregister(gates: readonly InstanceGate[]): void {
    for (const g of gates) {
      const gate = g as Gate;
      if (gate.state === 'running') this.release(gate);
      const i = this.#waiting.indexOf(gate);
      if (i >= 0) this.#waiting.splice(i, 1);
      this.#gates.delete(gate);
    }
    // Fewer instances can only lower the defaults and drop explicit requirements: cannot fail.
    this.#limits = this.#computeLimits('');
    this.#allocate();
  }

  /** Resources available and in use, for logs and tests: `global/R` or `<device>/R` → counts. */
  snapshot(): Record<string, { limit: number; inUse: number }> {
    const out: Record<string, { limit: number; inUse: number }> = {};
    for (const [k, limit] of this.#limits) out[k] = { limit, inUse: this.#inUse.get(k) ?? 0 };
    return out;
  }

  /** Instances waiting for resources now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** @internal Gate.acquire. */
  acquire(gate: Gate): Promise<void> | undefined {
    if (!this.#gates.has(gate)) throw internal(`model '${gate.model}': rate limiter gate used after unregistering`);
    if (gate.state !== 'idle') throw internal(`model '${gate.model}': instance asked the rate limiter twice without releasing`);
    if (this.#waiting.length === 0 && this.#fits(gate)) {
      this.#take(gate);
      return undefined;
    }
    gate.state = 'waiting';
    gate.seq = this.#seq++;
    this.#waiting.push(gate);
    this.#allocate();
    // #allocate may have started it already (it was first in line and fits).
    if ((gate.state as Gate['state']) === 'running') return undefined;
    return new Promise<void>((resolve) => { gate.wake = resolve; });
  }

  /** @internal Gate.release. */
  release(gate: Gate): void {
    if (gate.state !== 'running') return;
    gate.state = 'idle';
    gate.executions++;
    for (const [k, n] of gate.needs) this.#inUse.set(k, (this.#inUse.get(k) ?? 0) - n);
    this.#allocate();
  }

  #fits(gate: Gate): boolean {
    for (const [k, n] of gate.needs) {
      if ((this.#inUse.get(k) ?? 0) + n > (this.#limits.get(k) ?? 0)) return false;
    }
    return true;
  }

  #take(gate: Gate): void {
    for (const [k, n] of gate.needs) this.#inUse.set(k, (this.#inUse.get(k) ?? 0) + n);
    gate.state = 'running';
  }

  /** Starts waiting instances in order while the first in line fits. */
  #allocate(): void {
    while (this.#waiting.length > 0) {
      let best = 0;
      for (let i = 1; i < this.#waiting.length; i++) {
        const a = this.#waiting[i];
        const b = this.#waiting[best];
        if (a.weight < b.weight || (a.weight === b.weight && a.seq < b.seq)) best = i;
      }
      const gate = this.#waiting[best];
      if (!this.#fits(gate)) return;
      this.#waiting.splice(best, 1);
      this.#take(gate);
      const wake = gate.wake;
      gate.wake = undefined;
      wake?.();
    }
  }

  /** Triton's `UpdateResourceLimits`: defaults from the needs, explicit counts checked against them. */
  #computeLimits(model: string): Map<string, number> {
    const needed = new Map<string, number>();
    for (const g of this.#gates) for (const [k, n] of g.needs) needed.set(k, Math.max(needed.get(k) ?? 0, n));
    const names = (prefix: (k: string) => boolean) => new Set([...needed.keys()].filter(prefix).map((k) => k.slice(k.indexOf('/') + 1)));
    const globals = names((k) => k.startsWith(`${GLOBAL}/`));
    for (const n of names((k) => !k.startsWith(`${GLOBAL}/`))) {
      if (globals.has(n)) {
        throw invalidArg(`${model ? `model '${model}': ` : ''}Resource "${n}" is present as both global and device-specific resource in the model configuration.`);
      }
    }
    if (this.#explicit.length === 0) return needed;
    const limits = new Map<string, number>();
    for (const [key, need] of needed) {
      const slash = key.indexOf('/');
      const where = key.slice(0, slash);
      const name = key.slice(slash + 1);
      let count = 0;
      for (const r of this.#explicit) {
        if (r.name !== name) continue;
        // A global resource takes the largest count given for its name on any device.
        if (where === GLOBAL || r.device === undefined || String(r.device) === where) count = Math.max(count, r.count);
      }
      if (count < need) {
        throw invalidArg(`${model ? `model '${model}': ` : ''}Resource count for "${name}" is limited to ${count} which will prevent scheduling of one or more model instances, the minimum required count is ${need}`
          + ' (raise it with --rate-limit-resource)');
      }
      limits.set(key, count);
    }
    return limits;
  }
}
