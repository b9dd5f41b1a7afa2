/**
 * One call from config text to a checked, complete `ModelConfig`: parse (pbtxt or JSON),
 * normalise with Triton's defaults and auto-complete, validate (COMPAT-NOTES §3).
 */
import type { ModelConfig } from './model-config.ts';
import { parseModelConfigJson, parseModelConfigText } from './model-config-parse.ts';
import { normalizeModelConfig, type NormalizeContext } from './model-config-normalize.ts';
import { validateModelConfig } from './model-config-validate.ts';

/** The config source: `config.pbtxt` text, JSON text, or neither (auto-complete only). */
export interface ModelConfigSource {
  text?: string;
  json?: string;
  /** Named in error messages (`resnet/config.pbtxt:4:2: ...`). */
  file: string;
}

/**
 * Parses `src.text` (protobuf text) or else `src.json` (protobuf JSON), or starts from an
 * empty config when neither is given (a model with no config file, §3.11), then normalises
 * and validates it. Throws INVALID_ARG naming the file and the problem.
 */
export function loadModelConfig(src: ModelConfigSource, ctx: Omit<NormalizeContext, 'file'> & { hasGpu?: boolean }): ModelConfig {
  const raw = src.text !== undefined
    ? parseModelConfigText(src.text, src.file)
    : src.json !== undefined ? parseModelConfigJson(src.json, src.file) : {};
  const config = normalizeModelConfig(raw, { ...ctx, file: src.file });
  validateModelConfig(config, { modelName: ctx.modelName, signature: ctx.signature, file: src.file, hasGpu: ctx.hasGpu });
  return config;
}
