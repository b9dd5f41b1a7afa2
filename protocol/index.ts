/**
 * The public API of `protocol/`: wire formats shared by every runtime, with no I/O
 * (ARCHITECTURE-GUIDE §1). Import from here outside `protocol/`; files inside import each
 * other directly to keep the dependency graph explicit.
 */
export * from './datatypes.ts';
export * from './tensor.ts';
export * from './errors.ts';
export * from './infer.ts';
export * from './limits.ts';
export * from './infer-parameters.ts';
export * from './bytes-codec.ts';
export * from './tensor-json.ts';
export * from './http-infer.ts';
export * from './repository-parameters.ts';
