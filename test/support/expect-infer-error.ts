/** A test assertion shared by the codec tests: the call throws an InferError of a given code. */
import { expect } from 'vitest';
import { isInferError, type ErrorCode } from '../../protocol/errors.ts';

/** Runs `fn`, expecting an InferError with `code` whose message contains every `parts`; returns the message. */
export function expectInferError(fn: () => unknown, code: ErrorCode, ...parts: string[]): string {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected an error').toBeDefined();
  expect(isInferError(thrown), `not an InferError: ${String(thrown)}`).toBe(true);
  const err = thrown as { code: string; message: string };
  expect(err.code).toBe(code);
  for (const p of parts) expect(err.message).toContain(p);
  return err.message;
}
