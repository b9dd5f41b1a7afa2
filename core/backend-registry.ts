/**
 * Backends registered per server (never a module global: tests run several servers in one
 * process). For each instance the registry tries the eligible backends by priority, remembers
 * why a backend could not initialise, and when none works throws one error listing every
 * reason — the way onnxruntime's backend-impl.ts resolves execution providers.
 */
import { InferError } from '../protocol/errors.ts';
import type { InstanceGroupKind } from './model-config.ts';
import { kindAllowsGpu, type Backend, type ModelInstance, type ModelLoadInput } from './backend.ts';
import type { Logger } from './logger.ts';

type InitState = { ok: true } | { ok: false; reason: string } | { pending: Promise<void> };

/** Why one backend was not used for an instance. */
export interface BackendRefusal {
  backend: string;
  reason: string;
}

/** An instance together with the backend that created it and the backends that refused. */
export interface LoadedInstance {
  instance: ModelInstance;
  backend: string;
  refused: BackendRefusal[];
}

export class BackendRegistry {
  readonly #backends: Backend[] = [];
  readonly #init = new Map<string, InitState>();

  /** Adds a backend; later registrations with the same name replace earlier ones. */
  register(backend: Backend): void {
    const i = this.#backends.findIndex((b) => b.name === backend.name);
    if (i >= 0) this.#backends.splice(i, 1);
    this.#backends.push(backend);
    this.#backends.sort((a, b) => b.priority - a.priority);
    this.#init.delete(backend.name);
  }

  /** Registered backends, highest priority first. */
  list(): readonly Backend[] {
    return this.#backends;
  }

  /** True when some backend serves `platform` (a config `platform` or `backend` string). */
  supports(platform: string): boolean {
    return this.#backends.some((b) => b.platforms.includes(platform));
  }

  /** The default model file name for a platform (`model.onnx` for onnxruntime). */
  defaultModelFilename(platform: string): string | undefined {
    return this.#backends.find((b) => b.platforms.includes(platform))?.defaultModelFilename;
  }

  /** Model file names to look for, in order, when a config names none (default first). */
  modelFilenames(platform: string): string[] {
    const b = this.#backends.find((x) => x.platforms.includes(platform));
    return b ? [b.defaultModelFilename, ...(b.alternativeModelFilenames ?? [])] : [];
  }

  /** Initialisation outcome per backend so far (for status pages and logs). */
  initReport(): { backend: string; ok: boolean; reason?: string }[] {
    return this.#backends.map((b) => {
      const s = this.#init.get(b.name);
      if (!s || 'pending' in s) return { backend: b.name, ok: false, reason: 'not initialised yet' };
      return s.ok ? { backend: b.name, ok: true } : { backend: b.name, ok: false, reason: s.reason };
    });
  }

  async #ensureInit(b: Backend): Promise<string | undefined> {
    let s = this.#init.get(b.name);
    if (!s) {
      const pending = b.init().then(
        () => { this.#init.set(b.name, { ok: true }); },
        (e: unknown) => { this.#init.set(b.name, { ok: false, reason: e instanceof Error ? e.message : String(e) }); },
      );
      s = { pending };
      this.#init.set(b.name, s);
    }
    if ('pending' in s) {
      await s.pending;
      s = this.#init.get(b.name)!;
    }
    return 'ok' in s && !s.ok ? s.reason : undefined;
  }

  /**
   * Creates one instance on the best backend that serves `platform` and suits `kind`
   * (KIND_CPU: CPU backends only; KIND_GPU: GPU backends first, then CPU with a warning
   * in the refusals; KIND_AUTO/KIND_MODEL: GPU when one works, else CPU).
   */
  async load(platform: string, kind: InstanceGroupKind, input: ModelLoadInput): Promise<LoadedInstance> {
    const candidates = this.#backends.filter((b) => b.platforms.includes(platform)
      && (b.deviceClass === 'cpu' || kindAllowsGpu(kind)));
    if (candidates.length === 0) {
      const known = [...new Set(this.#backends.flatMap((b) => b.platforms))].join(', ') || 'none';
      throw new InferError('INVALID_ARG', `no backend serves platform '${platform}' (this server has: ${known})`);
    }
    const refused: BackendRefusal[] = [];
    for (const b of candidates) {
      const initFailure = await this.#ensureInit(b);
      if (initFailure !== undefined) {
        refused.push({ backend: b.name, reason: initFailure });
        continue;
      }
      try {
        const instance = await b.load(input);
        return { instance, backend: b.name, refused };
      } catch (e) {
        refused.push({ backend: b.name, reason: e instanceof Error ? e.message : String(e) });
      }
    }
    const reasons = refused.map((r) => `${r.backend}: ${r.reason}`).join('; ');
    throw new InferError('INTERNAL', `failed to load '${input.modelName}' version ${input.version}: ${reasons}`);
  }
}
