/**
 * Types for comlink's Node adapter. comlink ships them as `node-adapter.d.ts` next to
 * `node-adapter.mjs`, which TypeScript's nodenext resolution does not pair (it looks for
 * `.d.mts`), so the import would be untyped. Same signature as comlink's own declaration,
 * with `on`/`off` typed the way worker_threads' Worker and MessagePort declare them.
 */
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';

  /** What the adapter needs: a worker_threads Worker or MessagePort. */
  export interface NodeEndpoint {
    postMessage(message: unknown, transfer?: readonly Transferable[]): void;
    on(type: 'message', listener: (value: unknown) => void): unknown;
    off(type: 'message', listener: (value: unknown) => void): unknown;
    start?: () => void;
  }

  /** Adapts a Node endpoint (`on('message')`, data without an event) to comlink's Endpoint. */
  export default function nodeEndpoint(nep: NodeEndpoint): Endpoint;
}
