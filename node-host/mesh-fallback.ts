/**
 * The metadata fallback both endpoints (HTTP and gRPC) use on a mesh host: a model this host
 * does not serve is still described from what its peers report.
 */
import { toWireError } from '../protocol/errors.ts';

/**
 * A local answer, or — when the model is unknown here (NOT_FOUND) — what the mesh knows of it
 * from its peers' reports; the local error stands when the mesh knows nothing either.
 */
export function orRemote<T, R>(local: () => T, remote: () => R | undefined): T | R {
  try {
    return local();
  } catch (e) {
    if (toWireError(e).code !== 'NOT_FOUND') throw e;
    const r = remote();
    if (r === undefined) throw e;
    return r;
  }
}
