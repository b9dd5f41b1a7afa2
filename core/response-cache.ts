/**
 * Triton's local response cache (COMPAT-NOTES §3.8, `response_cache.md`): an LRU of complete
 * responses bounded in bytes, shared by every model of one server that sets
 * `response_cache { enable: true }`. A hit answers without queueing or executing anything.
 *
 * The cache holds its own copies: outputs are copied in on insert and copied out on every
 * hit, so a caller that mutates (or transfers) a response it received cannot change what the
 * next caller gets. Keys are exact (see response-cache-key.ts): a hash collision never
 * returns another request's answer.
 */
import type { InferRequest } from '../protocol/infer.ts';
import type { Tensor } from '../protocol/tensor.ts';
import type { ModelConfig } from './model-config.ts';
import { LinkedQueue, type QueueNode } from './queue.ts';
import { sameKey, type CacheKey } from './response-cache-key.ts';

/**
 * Size of the cache when the host does not say (`--cache-config local,size=N`). Triton has no
 * cache unless told; infermesh has one so `response_cache { enable: true }` works out of the
 * box, but bounded to 64 MiB: enough for thousands of typical responses (a few KB each), small
 * next to the models a host serves, and only filled by models that opt in.
 */
export const DEFAULT_RESPONSE_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * Bytes charged per entry beyond its key and output data: the entry object, its map slot,
 * and each output's tensor object, name and shape. An estimate of V8's heap cost, so that a
 * cache of many tiny responses still respects the bound in real memory.
 */
export const ENTRY_OVERHEAD_BYTES = 256;
/** Bytes charged per output tensor (object, name, shape array, typed-array header). */
export const OUTPUT_OVERHEAD_BYTES = 128;
/** Bytes charged per BYTES element (a Uint8Array view object each). */
export const BYTES_ELEMENT_OVERHEAD_BYTES = 64;

/** Request parameters that make a request part of a sequence (never cached, as in Triton). */
const SEQUENCE_PARAMETERS = ['sequence_id', 'sequence_start', 'sequence_end'] as const;

/**
 * True when responses of `config`'s model may be cached: the model enables `response_cache`,
 * and is neither decoupled nor sequence-batched (Triton caches only under the default
 * scheduler, the dynamic batcher and ensembles; decoupled models are refused by validation).
 */
export function modelUsesResponseCache(config: ModelConfig): boolean {
  return config.response_cache?.enable === true
    && config.sequence_batching === undefined
    && config.model_transaction_policy?.decoupled !== true;
}

/** True when a request of a caching model may be answered from (and stored in) the cache. */
export function requestIsCacheable(req: InferRequest): boolean {
  const p = req.parameters;
  if (p === undefined) return true;
  for (const k of SEQUENCE_PARAMETERS) {
    const v = p[k];
    // sequence_id 0 / "" and false flags mean "not part of a sequence" (COMPAT-NOTES §1.10).
    if (v !== undefined && v !== 0 && v !== '' && v !== false) return false;
  }
  return true;
}

/** Construction options of ResponseCache. */
export interface ResponseCacheInit {
  /** Upper bound of the bytes held (keys, output data and per-entry overhead). */
  maxBytes: number;
}

/** One cached response: an LRU node and a hash-bucket chain link. */
class Entry implements QueueNode<Entry> {
  prev: Entry | null = null;
  next: Entry | null = null;
  queue: LinkedQueue<Entry> | null = null;
  /** Next entry whose key has the same hash. */
  sibling: Entry | null = null;
  readonly key: CacheKey;
  readonly outputs: Tensor[];
  readonly bytes: number;

  constructor(key: CacheKey, outputs: Tensor[], bytes: number) {
    this.key = key;
    this.outputs = outputs;
    this.bytes = bytes;
  }
}

/** An LRU map from request keys to responses, bounded in bytes. */
export class ResponseCache {
  readonly maxBytes: number;
  readonly #buckets = new Map<number, Entry>();
  /** Least recently used first. */
  readonly #lru = new LinkedQueue<Entry>();
  #bytes = 0;
  #evictions = 0;

  constructor(init: ResponseCacheInit) {
    if (!(init.maxBytes > 0) || !Number.isSafeInteger(init.maxBytes)) {
      throw new RangeError(`response cache size must be a positive integer of bytes, got ${init.maxBytes}`);
    }
    this.maxBytes = init.maxBytes;
  }

  /** Entries held. */
  get size(): number {
    return this.#lru.length;
  }

  /** Bytes charged for the entries held (always ≤ maxBytes). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries evicted to make room, since creation. */
  get evictions(): number {
    return this.#evictions;
  }

  /** A fresh copy of the outputs stored under `key` (now the most recently used), or undefined. */
  lookup(key: CacheKey): Tensor[] | undefined {
    const e = this.#find(key);
    if (e === undefined) return undefined;
    this.#lru.remove(e);
    this.#lru.push(e);
    return e.outputs.map(copyTensor);
  }

  /**
   * Stores a copy of `outputs` under `key`, evicting least recently used entries until it
   * fits. Returns false (and stores nothing) when the entry alone is larger than the cache.
   * An existing entry for the key is replaced.
   */
  insert(key: CacheKey, outputs: readonly Tensor[]): boolean {
    const bytes = entryBytes(key, outputs);
    if (bytes > this.maxBytes) return false;
    const old = this.#find(key);
    if (old !== undefined) this.#remove(old);
    while (this.#bytes + bytes > this.maxBytes) {
      this.#remove(this.#lru.head!);
      this.#evictions++;
    }
    const e = new Entry(key, outputs.map(copyTensor), bytes);
    e.sibling = this.#buckets.get(key.hash) ?? null;
    this.#buckets.set(key.hash, e);
    this.#lru.push(e);
    this.#bytes += bytes;
    return true;
  }

  /** Drops every entry. */
  clear(): void {
    this.#buckets.clear();
    for (let e = this.#lru.shift(); e !== null; e = this.#lru.shift());
    this.#bytes = 0;
  }

  #find(key: CacheKey): Entry | undefined {
    for (let e = this.#buckets.get(key.hash) ?? null; e !== null; e = e.sibling) {
      if (sameKey(e.key.bytes, key.bytes)) return e;
    }
    return undefined;
  }

  #remove(e: Entry): void {
    this.#lru.remove(e);
    this.#bytes -= e.bytes;
    const head = this.#buckets.get(e.key.hash);
    if (head === e) {
      if (e.sibling === null) this.#buckets.delete(e.key.hash);
      else this.#buckets.set(e.key.hash, e.sibling);
      return;
    }
    for (let p = head ?? null; p !== null; p = p.sibling) {
      if (p.sibling === e) {
        p.sibling = e.sibling;
        return;
      }
    }
  }
}

/** What an entry is charged: key, output data, and the fixed allowances above. */
function entryBytes(key: CacheKey, outputs: readonly Tensor[]): number {
  let n = ENTRY_OVERHEAD_BYTES + key.bytes.byteLength;
  for (const t of outputs) {
    n += OUTPUT_OVERHEAD_BYTES + t.name.length * 2 + t.shape.length * 8;
    if (Array.isArray(t.data)) {
      for (const el of t.data) n += BYTES_ELEMENT_OVERHEAD_BYTES + el.byteLength;
    } else {
      n += t.data.byteLength;
    }
  }
  return n;
}

/**
 * A deep copy that shares no memory with `t`. BYTES elements are packed into one buffer
 * (one allocation instead of one per element) and handed out as views of it.
 */
export function copyTensor(t: Tensor): Tensor {
  let data: Tensor['data'];
  if (Array.isArray(t.data)) {
    let total = 0;
    for (const el of t.data) total += el.byteLength;
    const packed = new Uint8Array(total);
    const views = new Array<Uint8Array>(t.data.length);
    let off = 0;
    for (let i = 0; i < t.data.length; i++) {
      const el = t.data[i];
      packed.set(el, off);
      views[i] = packed.subarray(off, off + el.byteLength);
      off += el.byteLength;
    }
    data = views;
  } else {
    data = t.data.slice();
  }
  return { name: t.name, datatype: t.datatype, shape: t.shape.slice(), data };
}
