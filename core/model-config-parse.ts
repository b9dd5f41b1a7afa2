/**
 * Reading a model configuration: `config.pbtxt` (protobuf text format, COMPAT-NOTES §3.13)
 * or `config.json` / a load request's `config` parameter (protobuf JSON, §3.12). Both give
 * the raw config, holding only what the file says; `normalizeModelConfig` adds Triton's
 * defaults and auto-complete, `validateModelConfig` checks the result.
 */
import type { ModelConfig } from './model-config.ts';
import { MODEL_CONFIG } from './model-config-schema.ts';
import { parsePbtxt, type PbtxtLimits } from './pbtxt.ts';
import { parseProtoJson, type ProtoJsonLimits } from './proto-json.ts';

/**
 * Parses a `config.pbtxt`. Strict like Triton's TextFormat parser: an unknown field, a
 * wrong type or a syntax error throws INVALID_ARG naming `file:line:column`.
 */
export function parseModelConfigText(text: string, file = 'config.pbtxt', limits?: Partial<PbtxtLimits>): Partial<ModelConfig> {
  return parsePbtxt(text, MODEL_CONFIG, { file, limits }) as Partial<ModelConfig>;
}

/**
 * Parses a model configuration in protobuf JSON: snake_case or lowerCamelCase keys,
 * enums as names or numbers, 64-bit integers as numbers or strings. Unknown keys and
 * wrongly typed values throw INVALID_ARG naming the path (`input[0].dims[1]`).
 */
export function parseModelConfigJson(text: string, file = 'config.json', limits?: Partial<ProtoJsonLimits>): Partial<ModelConfig> {
  return parseProtoJson(text, MODEL_CONFIG, { file, limits }) as Partial<ModelConfig>;
}
