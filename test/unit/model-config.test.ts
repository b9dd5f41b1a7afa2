/**
 * Triton model configuration: parsing config.pbtxt and config.json against the ModelConfig
 * schema, normalisation with Triton's defaults (COMPAT-NOTES §3.12 JSON form), auto-complete
 * from a model signature (§3.11, §3.4) and validation (§3.1–§3.7).
 */
import { describe, expect, it } from 'vitest';
import { parseModelConfigJson, parseModelConfigText } from '../../core/model-config-parse.ts';
import { normalizeModelConfig, type NormalizeContext } from '../../core/model-config-normalize.ts';
import { validateModelConfig, type ValidateContext } from '../../core/model-config-validate.ts';
import { loadModelConfig } from '../../core/model-config-load.ts';
import type { ModelConfig, ModelSignature } from '../../core/model-config.ts';
import { isInferError } from '../../protocol/errors.ts';

/** COMPAT-NOTES §3.14, one field per line as the Triton repository file has it. */
const SIMPLE = `name: "simple"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  {
    name: "INPUT0"
    data_type: TYPE_INT32
    dims: [ 16 ]
  },
  {
    name: "INPUT1"
    data_type: TYPE_INT32
    dims: [ 16 ]
  }
]
output [
  {
    name: "OUTPUT0"
    data_type: TYPE_INT32
    dims: [ 16 ]
  },
  {
    name: "OUTPUT1"
    data_type: TYPE_INT32
    dims: [ 16 ]
  }
]
`;

const SIMPLE_RAW = {
  name: 'simple',
  platform: 'onnxruntime_onnx',
  max_batch_size: 8,
  input: [
    { name: 'INPUT0', data_type: 'TYPE_INT32', dims: [16] },
    { name: 'INPUT1', data_type: 'TYPE_INT32', dims: [16] },
  ],
  output: [
    { name: 'OUTPUT0', data_type: 'TYPE_INT32', dims: [16] },
    { name: 'OUTPUT1', data_type: 'TYPE_INT32', dims: [16] },
  ],
};

/** What Triton's config endpoint prints for `simple` on a machine without a GPU (§3.12). */
const SIMPLE_NORMALIZED = {
  name: 'simple',
  platform: 'onnxruntime_onnx',
  backend: 'onnxruntime',
  runtime: '',
  version_policy: { latest: { num_versions: 1 } },
  max_batch_size: 8,
  input: ['INPUT0', 'INPUT1'].map((name) => ({
    name, data_type: 'TYPE_INT32', format: 'FORMAT_NONE', dims: [16],
    is_shape_tensor: false, allow_ragged_batch: false, optional: false, is_non_linear_format_io: false,
  })),
  output: ['OUTPUT0', 'OUTPUT1'].map((name) => ({
    name, data_type: 'TYPE_INT32', dims: [16], label_filename: '', is_shape_tensor: false, is_non_linear_format_io: false,
  })),
  batch_input: [],
  batch_output: [],
  optimization: {
    priority: 'PRIORITY_DEFAULT',
    input_pinned_memory: { enable: true },
    output_pinned_memory: { enable: true },
    gather_kernel_buffer_threshold: 0,
    eager_batching: false,
  },
  instance_group: [{
    name: 'simple', kind: 'KIND_CPU', count: 2, gpus: [], secondary_devices: [], profile: [], passive: false, host_policy: '',
  }],
  default_model_filename: 'model.onnx',
  cc_model_filenames: {},
  metric_tags: {},
  parameters: {},
  model_warmup: [],
};

const sig = (inputs: [string, ModelSignature['inputs'][number]['datatype'], number[]][], outputs: typeof inputs): ModelSignature => ({
  inputs: inputs.map(([name, datatype, shape]) => ({ name, datatype, shape })),
  outputs: outputs.map(([name, datatype, shape]) => ({ name, datatype, shape })),
});

/** The signature of `simple` exported with a dynamic batch dimension. */
const SIMPLE_SIG = sig(
  [['INPUT0', 'INT32', [-1, 16]], ['INPUT1', 'INT32', [-1, 16]]],
  [['OUTPUT0', 'INT32', [-1, 16]], ['OUTPUT1', 'INT32', [-1, 16]]],
);

const ctx = (over: Partial<NormalizeContext> = {}): NormalizeContext => ({ modelName: 'simple', autoComplete: true, ...over });
const normalize = (text: string, over: Partial<NormalizeContext> = {}) => normalizeModelConfig(parseModelConfigText(text), ctx(over));

/** The INVALID_ARG message a call throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isInferError(e)).toBe(true);
    expect((e as { code: string }).code).toBe('INVALID_ARG');
    return (e as Error).message;
  }
  throw new Error('expected an INVALID_ARG error');
}

/** Validation error of a pbtxt config after normalisation. */
function validationError(text: string, over: Partial<NormalizeContext> = {}, vctx: Partial<ValidateContext> = {}): string {
  const modelName = over.modelName ?? 'simple';
  const cfg = normalize(text, { modelName, ...over });
  return errorOf(() => validateModelConfig(cfg, { modelName, ...vctx }));
}

describe('config.pbtxt: Triton examples', () => {
  it('parses the simple example exactly', () => {
    expect(parseModelConfigText(SIMPLE)).toEqual(SIMPLE_RAW);
  });

  it('parses the same config written on one line, with <> and list/repeat mixing', () => {
    const oneLine = 'name:"simple";platform:"onnxruntime_onnx",max_batch_size:8 input{name:"INPUT0" data_type:TYPE_INT32 dims:16} '
      + 'input:[<name:"INPUT1",data_type:8,dims:[0x10]>] output[{name:"OUTPUT0" data_type:TYPE_INT32 dims:[020]}] output<name:"OUTPUT1" data_type:TYPE_INT32 dims:[16];>;';
    expect(parseModelConfigText(oneLine)).toEqual(SIMPLE_RAW);
  });

  it('parses documentation-style configs: variable dims, reshape idiom, rate limiter with global: True, comments', () => {
    const text = `
      # Triton docs style
      platform: "onnxruntime_onnx"   # the ONNX Runtime backend
      max_batch_size: 8
      input [
        {
          name: "in"                 # comment at a line end
          data_type: TYPE_FP32
          dims: [ 1 ]
          reshape: { shape: [ ] }
        },
        # a comment inside a list
        { name: "tokens", data_type: TYPE_INT64, dims: [ -1 ], allow_ragged_batch: true, optional: True }
      ]
      output [ { name: "out" data_type: TYPE_FP32 dims: [ 4, -1 ] label_filename: "labels.txt" } ]
      instance_group [
        {
          count: 1
          kind: KIND_GPU
          gpus: [ 0, 1, 2 ]
          rate_limiter {
            resources [
              { name: "R1" count: 4 },
              { name: "R2" global: True count: 2 }
            ]
            priority: 2
          }
        },
        { count: 2 kind: KIND_CPU host_policy: "policy_0" passive: t }
      ]`;
    expect(parseModelConfigText(text)).toEqual({
      platform: 'onnxruntime_onnx',
      max_batch_size: 8,
      input: [
        { name: 'in', data_type: 'TYPE_FP32', dims: [1], reshape: { shape: [] } },
        { name: 'tokens', data_type: 'TYPE_INT64', dims: [-1], allow_ragged_batch: true, optional: true },
      ],
      output: [{ name: 'out', data_type: 'TYPE_FP32', dims: [4, -1], label_filename: 'labels.txt' }],
      instance_group: [
        {
          count: 1, kind: 'KIND_GPU', gpus: [0, 1, 2],
          rate_limiter: { resources: [{ name: 'R1', count: 4 }, { name: 'R2', global: true, count: 2 }], priority: 2 },
        },
        { count: 2, kind: 'KIND_CPU', host_policy: 'policy_0', passive: true },
      ],
    });
  });

  it('parses the three version policies of the documentation', () => {
    expect(parseModelConfigText('version_policy: { all: {}}').version_policy).toEqual({ all: {} });
    expect(parseModelConfigText('version_policy: { latest: { num_versions: 2}}').version_policy).toEqual({ latest: { num_versions: 2 } });
    expect(parseModelConfigText('version_policy: { specific: { versions: [1,3]}}').version_policy).toEqual({ specific: { versions: [1, 3] } });
    expect(parseModelConfigText('version_policy { all { } }').version_policy).toEqual({ all: {} });
  });

  it('refuses two version policies (a oneof) with line:column', () => {
    expect(errorOf(() => parseModelConfigText('version_policy {\n  latest { num_versions: 1 }\n  all {}\n}')))
      .toBe("config.pbtxt:3:3: 'all' and 'latest' are both set, but they are members of oneof 'policy_choice' in ModelVersionPolicy; keep only one");
  });

  it('parses parameters maps in entry and list form, last duplicate winning', () => {
    const text = `
      parameters { key: "execution_mode" value: { string_value: "1" } }
      parameters [ { key: "a" value { string_value: "x" } }, { key: "b", value: < string_value: 'y' > } ]
      parameters: { key: "execution_mode" value: { string_value: "0" } }`;
    expect(parseModelConfigText(text).parameters).toEqual({
      execution_mode: { string_value: '0' }, a: { string_value: 'x' }, b: { string_value: 'y' },
    });
  });

  it('parses dynamic_batching with queue policies and the priority_queue_policy map', () => {
    const text = `
      dynamic_batching {
        preferred_batch_size: [ 4, 8 ]
        max_queue_delay_microseconds: 100
        preserve_ordering: false
        priority_levels: 2
        default_priority_level: 2
        default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 50000 allow_timeout_override: true max_queue_size: 16 }
        priority_queue_policy { key: 1 value: { timeout_action: REJECT max_queue_size: 4 } }
        priority_queue_policy [ { key: 2 value { default_timeout_microseconds: 0x10 } } ]
      }`;
    expect(parseModelConfigText(text).dynamic_batching).toEqual({
      preferred_batch_size: [4, 8],
      max_queue_delay_microseconds: 100,
      preserve_ordering: false,
      priority_levels: 2,
      default_priority_level: 2,
      default_queue_policy: { timeout_action: 'DELAY', default_timeout_microseconds: 50000, allow_timeout_override: true, max_queue_size: 16 },
      priority_queue_policy: { 1: { timeout_action: 'REJECT', max_queue_size: 4 }, 2: { default_timeout_microseconds: 16 } },
    });
  });

  it('parses sequence_batching with control inputs (simple_sequence) and the oldest strategy with state', () => {
    const simpleSequence = `
      name: "simple_sequence"
      platform: "onnxruntime_onnx"
      max_batch_size: 8
      sequence_batching {
        max_sequence_idle_microseconds: 5000000
        control_input [
          { name: "START" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] },
          { name: "READY" control [ { kind: CONTROL_SEQUENCE_READY int32_false_true: [ 0, 1 ] } ] }
        ]
      }
      input [ { name: "INPUT" data_type: TYPE_INT32 dims: [ 1 ] } ]
      output [ { name: "OUTPUT" data_type: TYPE_INT32 dims: [ 1 ] } ]
      instance_group [ { count: 1 kind: KIND_CPU } ]`;
    expect(parseModelConfigText(simpleSequence).sequence_batching).toEqual({
      max_sequence_idle_microseconds: 5000000,
      control_input: [
        { name: 'START', control: [{ kind: 'CONTROL_SEQUENCE_START', int32_false_true: [0, 1] }] },
        { name: 'READY', control: [{ kind: 'CONTROL_SEQUENCE_READY', int32_false_true: [0, 1] }] },
      ],
    });
    const oldest = `sequence_batching {
      oldest { max_candidate_sequences: 4 preferred_batch_size: [ 2 ] max_queue_delay_microseconds: 10 }
      control_input { name: "CORRID" control { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } }
      control_input { name: "END" control { kind: CONTROL_SEQUENCE_END fp32_false_true: [ 0.0, 1.0 ] } }
      state { input_name: "INPUT_STATE" output_name: "OUTPUT_STATE" data_type: TYPE_FP32 dims: [ -1 ]
              initial_state { data_type: TYPE_FP32 dims: [ 1 ] zero_data: true name: "init" } }
    }`;
    expect(parseModelConfigText(oldest).sequence_batching).toEqual({
      oldest: { max_candidate_sequences: 4, preferred_batch_size: [2], max_queue_delay_microseconds: 10 },
      control_input: [
        { name: 'CORRID', control: [{ kind: 'CONTROL_SEQUENCE_CORRID', data_type: 'TYPE_UINT64' }] },
        { name: 'END', control: [{ kind: 'CONTROL_SEQUENCE_END', fp32_false_true: [0, 1] }] },
      ],
      state: [{
        input_name: 'INPUT_STATE', output_name: 'OUTPUT_STATE', data_type: 'TYPE_FP32', dims: [-1],
        initial_state: [{ data_type: 'TYPE_FP32', dims: [1], zero_data: true, name: 'init' }],
      }],
    });
    expect(errorOf(() => parseModelConfigText('sequence_batching { direct { } oldest { } }')))
      .toMatch(/^config\.pbtxt:1:32: 'oldest' and 'direct' are both set, but they are members of oneof 'strategy_choice'/);
  });

  it('parses an ensemble with input_map and output_map', () => {
    const cfg = parseModelConfigText(ENSEMBLE);
    expect(cfg.ensemble_scheduling).toEqual({
      step: [
        { model_name: 'preprocess', model_version: -1, input_map: { RAW_IMAGE: 'IMAGE' }, output_map: { PREPROCESSED_OUTPUT: 'preprocessed_image' } },
        { model_name: 'classifier', model_version: -1, input_map: { FORMATTED_IMAGE: 'preprocessed_image' }, output_map: { CLASSIFICATION_OUTPUT: 'CLASSIFICATION' } },
        { model_name: 'segmenter', model_version: 3, input_map: { FORMATTED_IMAGE: 'preprocessed_image' }, output_map: { SEGMENTATION_OUTPUT: 'SEGMENTATION' } },
      ],
    });
  });

  it('parses model_warmup with its inputs map and oneof data sources', () => {
    const text = `model_warmup [
      {
        name: "sample"
        batch_size: 2
        inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [ 16 ] zero_data: true } }
        inputs { key: "INPUT1" value: { data_type: TYPE_INT32 dims: [ 16 ] random_data: true } }
        count: 3
      },
      { name: "file" batch_size: 1 inputs [ { key: "INPUT0", value { data_type: TYPE_INT32, dims: 16, input_data_file: "raw_in0" } } ] }
    ]`;
    expect(parseModelConfigText(text).model_warmup).toEqual([
      {
        name: 'sample', batch_size: 2, count: 3,
        inputs: {
          INPUT0: { data_type: 'TYPE_INT32', dims: [16], zero_data: true },
          INPUT1: { data_type: 'TYPE_INT32', dims: [16], random_data: true },
        },
      },
      { name: 'file', batch_size: 1, inputs: { INPUT0: { data_type: 'TYPE_INT32', dims: [16], input_data_file: 'raw_in0' } } },
    ]);
    expect(errorOf(() => parseModelConfigText('model_warmup { inputs { key: "a" value { zero_data: true random_data: true } } }')))
      .toMatch(/^config\.pbtxt:1:58: 'random_data' and 'zero_data' are both set/);
  });

  it('parses the fields infermesh only carries: optimization, agents, metrics, batch IO, cache', () => {
    const text = `
      optimization {
        graph: { level: -1 }
        priority: PRIORITY_MAX
        cuda { graphs: true busy_wait_events: 1 output_copy_stream: false
          graph_spec [ { batch_size: 4 input { key: "INPUT0" value: { dim: [ 16 ] } }
                         graph_lower_bound { batch_size: 1 input { key: "INPUT0" value { dim: [ 8 ] } } } } ] }
        execution_accelerators {
          gpu_execution_accelerator : [ {
            name : "tensorrt"
            parameters { key: "precision_mode" value: "FP16" }
            parameters { key: "max_workspace_size_bytes" value: "1073741824" }
          } ]
          cpu_execution_accelerator { name: "openvino" }
        }
        input_pinned_memory { enable: false }
        gather_kernel_buffer_threshold: 2
        eager_batching: True
      }
      batch_input [ { kind: BATCH_ELEMENT_COUNT target_name: "N" data_type: TYPE_INT32 source_input: "tokens" } ]
      batch_output { target_name: [ "out" ] kind: BATCH_SCATTER_WITH_INPUT_SHAPE source_input: [ "tokens" ] }
      model_transaction_policy { decoupled: True }
      response_cache { enable: true }
      model_operations { op_library_filename: "libcustom.so" }
      model_repository_agents { agents [ { name: "checksum", parameters { key: "MD5:model.onnx" value: "abc" } } ] }
      model_metrics { metric_control [ { metric_identifier { family: "nv_inference_request_duration" } histogram_options { buckets: [ -5.0, -2, 0, 3.5, 5 ] } } ] }
      cc_model_filenames [ { key: "7.5" value: "resnet50_T4.plan" }, { key: "8.0" value: "resnet50_A100.plan" } ]
      metric_tags { key: "team" value: "vision" }
      runtime: "libtriton_onnxruntime.so"
      instance_group { secondary_devices { kind: KIND_NVDLA device_id: 0 } profile: [ "0", "1" ] }`;
    const cfg = parseModelConfigText(text) as Record<string, unknown>;
    expect(cfg.optimization).toEqual({
      graph: { level: -1 },
      priority: 'PRIORITY_MAX',
      cuda: {
        graphs: true, busy_wait_events: true, output_copy_stream: false,
        graph_spec: [{ batch_size: 4, input: { INPUT0: { dim: [16] } }, graph_lower_bound: { batch_size: 1, input: { INPUT0: { dim: [8] } } } }],
      },
      execution_accelerators: {
        gpu_execution_accelerator: [{ name: 'tensorrt', parameters: { precision_mode: 'FP16', max_workspace_size_bytes: '1073741824' } }],
        cpu_execution_accelerator: [{ name: 'openvino' }],
      },
      input_pinned_memory: { enable: false },
      gather_kernel_buffer_threshold: 2,
      eager_batching: true,
    });
    expect(cfg.batch_input).toEqual([{ kind: 'BATCH_ELEMENT_COUNT', target_name: ['N'], data_type: 'TYPE_INT32', source_input: ['tokens'] }]);
    expect(cfg.batch_output).toEqual([{ target_name: ['out'], kind: 'BATCH_SCATTER_WITH_INPUT_SHAPE', source_input: ['tokens'] }]);
    expect(cfg.model_transaction_policy).toEqual({ decoupled: true });
    expect(cfg.response_cache).toEqual({ enable: true });
    expect(cfg.model_operations).toEqual({ op_library_filename: ['libcustom.so'] });
    expect(cfg.model_repository_agents).toEqual({ agents: [{ name: 'checksum', parameters: { 'MD5:model.onnx': 'abc' } }] });
    expect(cfg.model_metrics).toEqual({ metric_control: [{ metric_identifier: { family: 'nv_inference_request_duration' }, histogram_options: { buckets: [-5, -2, 0, 3.5, 5] } }] });
    expect(cfg.cc_model_filenames).toEqual({ '7.5': 'resnet50_T4.plan', '8.0': 'resnet50_A100.plan' });
    expect(cfg.metric_tags).toEqual({ team: 'vision' });
    expect(cfg.runtime).toBe('libtriton_onnxruntime.so');
    expect(cfg.instance_group).toEqual([{ secondary_devices: [{ kind: 'KIND_NVDLA', device_id: 0 }], profile: ['0', '1'] }]);
  });
});

const ENSEMBLE = `
name: "ensemble_model"
platform: "ensemble"
max_batch_size: 1
input [ { name: "IMAGE" data_type: TYPE_STRING dims: [ 1 ] } ]
output [
  { name: "CLASSIFICATION" data_type: TYPE_FP32 dims: [ 1000 ] },
  { name: "SEGMENTATION" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] }
]
ensemble_scheduling {
  step [
    {
      model_name: "preprocess"
      model_version: -1
      input_map { key: "RAW_IMAGE" value: "IMAGE" }
      output_map { key: "PREPROCESSED_OUTPUT" value: "preprocessed_image" }
    },
    {
      model_name: "classifier"
      model_version: -1
      input_map { key: "FORMATTED_IMAGE" value: "preprocessed_image" }
      output_map { key: "CLASSIFICATION_OUTPUT" value: "CLASSIFICATION" }
    },
    {
      model_name: "segmenter"
      model_version: 3
      input_map { key: "FORMATTED_IMAGE" value: "preprocessed_image" }
      output_map { key: "SEGMENTATION_OUTPUT" value: "SEGMENTATION" }
    }
  ]
}`;

describe('config.pbtxt: errors name the line and column', () => {
  const cases: [string, string, string][] = [
    ['unknown field with a suggestion', 'name: "m"\nmax_batch: 8', "config.pbtxt:2:1: unknown field 'max_batch' in ModelConfig (did you mean 'max_batch_size'?)"],
    ['unknown nested field with a suggestion', 'input {\n  name: "a"\n  dim: [ 3 ]\n}', "config.pbtxt:3:3: unknown field 'dim' in ModelInput (did you mean 'dims'?)"],
    ['missing colon for a scalar', 'name: "m"\nplatform: "onnxruntime_onnx"\n\n\n\n\nmax_batch_size 8', "config.pbtxt:7:16: expected ':' after field 'max_batch_size', got '8'"],
    ['unterminated string', 'name: "simple\n', 'config.pbtxt:1:7: unterminated string: a string cannot span lines (write \\n for a newline)'],
    ['bad escape', 'name: "a\\zb"', "config.pbtxt:1:9: invalid escape sequence '\\z' in string (valid: \\n \\t \\r \\\\ \\' \\\" \\ooo \\xHH \\uHHHH \\UHHHHHHHH)"],
    ['string for an int', 'max_batch_size: "8"', "config.pbtxt:1:17: expected an integer (int32) for field 'max_batch_size', got the string \"8\""],
    ['unquoted string', 'platform: onnxruntime_onnx', "config.pbtxt:1:11: expected a quoted string for field 'platform', got 'onnxruntime_onnx' (strings need quotes)"],
    ['unknown enum name with a suggestion', 'input { data_type: TYPE_FLOAT32 }', "config.pbtxt:1:20: unknown value 'TYPE_FLOAT32' for field 'data_type' (enum DataType) (did you mean 'TYPE_FP32'?)"],
    ['protocol datatype name in a config', 'input { data_type: FP32 }', "config.pbtxt:1:20: unknown value 'FP32' for field 'data_type' (enum DataType) (did you mean 'TYPE_FP32'?)"],
    ['unknown kind', 'instance_group { kind: KIND_CUDA }', "config.pbtxt:1:24: unknown value 'KIND_CUDA' for field 'kind' (enum ModelInstanceGroup.Kind) (did you mean 'KIND_AUTO'?); expected one of KIND_AUTO, KIND_GPU, KIND_CPU, KIND_MODEL"],
    ['duplicate non-repeated', 'max_batch_size: 8\nname: "m"\nmax_batch_size: 4', "config.pbtxt:3:1: non-repeated field 'max_batch_size' of ModelConfig is specified multiple times; keep one"],
    ['number followed by identifier', 'input { dims: [ 3, 10bar ] }', "config.pbtxt:1:20: '10bar' is not a number: a number must be followed by a space, ',' or ']', not 'b'"],
    ['two schedulers (oneof)', 'dynamic_batching { }\nsequence_batching { }', "config.pbtxt:2:1: 'sequence_batching' and 'dynamic_batching' are both set, but they are members of oneof 'scheduling_choice' in ModelConfig; keep only one"],
    ['list for a non-repeated field', 'max_batch_size: [ 8 ]', "config.pbtxt:1:17: field 'max_batch_size' of ModelConfig is not repeated: give one value, not a [ ] list"],
    ['scalar for a message', 'version_policy: 1', "config.pbtxt:1:17: expected '{' or '<' to start message field 'version_policy' (ModelVersionPolicy), got '1'"],
    ['int32 overflow', 'max_batch_size: 4294967296', "config.pbtxt:1:17: bad value for field 'max_batch_size': 4294967296 is out of range for int32 [-2147483648, 2147483647]"],
    ['unclosed message', 'input {\n  name: "a"\n', "config.pbtxt:3:1: expected '}' to close 'input' opened at 1:7, but the file ended"],
  ];
  for (const [what, text, message] of cases) {
    it(what, () => {
      expect(errorOf(() => parseModelConfigText(text))).toContain(message);
    });
  }

  it('uses the file name it is given', () => {
    expect(errorOf(() => parseModelConfigText('bogus: 1', 'models/resnet/config.pbtxt')))
      .toBe("models/resnet/config.pbtxt:1:1: unknown field 'bogus' in ModelConfig");
  });

  it('refuses nesting beyond the depth limit', () => {
    const deep = `optimization { cuda { graph_spec { graph_lower_bound { input { key: "a" value { dim: 1 } } } } } }`;
    expect(parseModelConfigText(deep)).toBeDefined();
    expect(errorOf(() => parseModelConfigText(deep, 'config.pbtxt', { maxDepth: 5 })))
      .toBe("config.pbtxt:1:79: messages are nested more than 5 levels deep");
  });
});

describe('config.json', () => {
  const SIMPLE_JSON = JSON.stringify({
    name: 'simple',
    platform: 'onnxruntime_onnx',
    max_batch_size: 8,
    input: [
      { name: 'INPUT0', data_type: 'TYPE_INT32', dims: [16] },
      { name: 'INPUT1', dataType: 8, dims: ['16'] },
    ],
    output: [
      { name: 'OUTPUT0', data_type: 'TYPE_INT32', dims: [16], reshape: null },
      { name: 'OUTPUT1', data_type: 'TYPE_INT32', dims: [16] },
    ],
    dynamic_batching: null,
  });

  it('gives the same object as the equivalent config.pbtxt (camelCase keys, int64 strings, enum numbers, nulls)', () => {
    expect(parseModelConfigJson(SIMPLE_JSON)).toEqual(parseModelConfigText(SIMPLE));
  });

  it('is equivalent for a config using maps, oneofs and nested messages', () => {
    const text = `
      name: "m" backend: "onnxruntime" max_batch_size: 4
      version_policy { specific { versions: [ 1, 3 ] } }
      dynamic_batching { preferred_batch_size: [ 2, 4 ] max_queue_delay_microseconds: 500 priority_levels: 2 default_priority_level: 1
        priority_queue_policy { key: 2 value { timeout_action: DELAY default_timeout_microseconds: 1000 } } }
      parameters { key: "intra_op_thread_count" value { string_value: "2" } }
      instance_group [ { kind: KIND_CPU count: 3 rate_limiter { resources { name: "R" global: true count: 1 } } } ]
      model_warmup { name: "w" batch_size: 1 inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } } }`;
    const json = `{
      "name": "m", "backend": "onnxruntime", "maxBatchSize": 4,
      "version_policy": { "specific": { "versions": ["1", 3] } },
      "dynamic_batching": {
        "preferred_batch_size": [2, 4], "max_queue_delay_microseconds": "500", "priority_levels": 2, "defaultPriorityLevel": "1",
        "priority_queue_policy": { "2": { "timeout_action": "DELAY", "default_timeout_microseconds": 1000 } }
      },
      "parameters": { "intra_op_thread_count": { "string_value": "2" } },
      "instance_group": [ { "kind": 2, "count": 3, "rateLimiter": { "resources": [ { "name": "R", "global": true, "count": 1 } ] } } ],
      "model_warmup": [ { "name": "w", "batch_size": 1, "inputs": { "x": { "data_type": "TYPE_FP32", "dims": [3], "zero_data": true } } } ]
    }`;
    expect(parseModelConfigJson(json)).toEqual(parseModelConfigText(text));
  });

  it('reports unknown keys with a suggestion and the path', () => {
    expect(errorOf(() => parseModelConfigJson('{"input":[{"name":"a","dim":[1]}]}')))
      .toBe("config.json: at input[0]: unknown field 'dim' in ModelInput (did you mean 'dims'?)");
    expect(errorOf(() => parseModelConfigJson('{"max_batch":1}')))
      .toBe("config.json: unknown field 'max_batch' in ModelConfig (did you mean 'max_batch_size'?)");
  });

  it('reports wrongly typed values with the path', () => {
    const cases: [string, string][] = [
      ['{"max_batch_size":"eight"}', 'config.json: at max_batch_size: expected an integer (int32), got the string "eight"'],
      ['{"max_batch_size":1.5}', 'config.json: at max_batch_size: expected an integer (int32), got number 1.5'],
      ['{"max_batch_size":-1e10}', 'config.json: at max_batch_size: bad value: -10000000000 is out of range for int32'],
      ['{"input":[{"dims":[1,"x"]}]}', 'config.json: at input[0].dims[1]: expected an integer (int64), got the string "x"'],
      ['{"input":{"name":"a"}}', 'config.json: at input: expected an array (repeated ModelInput), got an object'],
      ['{"name":5}', 'config.json: at name: expected a string, got number 5'],
      ['{"response_cache":{"enable":"true"}}', 'config.json: at response_cache.enable: expected true or false, got the string "true"'],
      ['{"input":[{"data_type":"TYPE_FLOAT"}]}', 'config.json: at input[0].data_type: unknown value "TYPE_FLOAT" for enum DataType (did you mean \'TYPE_FP32\'?)'],
      ['{"input":[{"data_type":99}]}', 'config.json: at input[0].data_type: 99 is not a value of enum DataType'],
      ['{"dynamic_batching":{"priority_queue_policy":{"x":{}}}}', 'config.json: at dynamic_batching.priority_queue_policy["x"]: map key must be an integer (uint64), got "x"'],
      ['{"parameters":{"p":"v"}}', 'config.json: at parameters["p"]: expected an object (ModelParameter), got the string "v"'],
      ['{"version_policy":{"latest":{},"all":{}}}', "config.json: at version_policy: 'all' and 'latest' are both set, but they are members of oneof 'policy_choice' in ModelVersionPolicy; keep only one"],
      ['{"max_batch_size":1,"maxBatchSize":2}', "config.json: field 'max_batch_size' is given twice (as 'max_batch_size' and 'maxBatchSize')"],
      ['[1]', 'config.json: expected an object (ModelConfig), got an array'],
    ];
    for (const [json, message] of cases) expect(errorOf(() => parseModelConfigJson(json))).toContain(message);
  });

  it('reports invalid JSON with line and column', () => {
    expect(errorOf(() => parseModelConfigJson('{\n  "name": "m",\n  oops\n}', 'm/config.json'))).toMatch(/^m\/config\.json:3:3: invalid JSON: /);
  });

  it('accepts NaN and Infinity strings for float fields', () => {
    const cfg = parseModelConfigJson('{"sequence_batching":{"control_input":[{"name":"E","control":[{"kind":"CONTROL_SEQUENCE_END","fp32_false_true":["-Infinity","1.5"]}]}]}}');
    expect(cfg.sequence_batching?.control_input[0].control[0].fp32_false_true).toEqual([-Infinity, 1.5]);
  });

  it('refuses oversized input', () => {
    expect(errorOf(() => parseModelConfigJson(`{"name":"${'x'.repeat(100)}"}`, 'c.json', { maxChars: 50 })))
      .toBe('c.json: 111 characters is more than the 50 allowed for a JSON config');
  });
});

describe('normalizeModelConfig: Triton defaults', () => {
  it('normalises simple to exactly what Triton prints, in protobuf field order', () => {
    const cfg = normalize(SIMPLE);
    expect(cfg).toEqual(SIMPLE_NORMALIZED);
    expect(JSON.stringify(cfg)).toBe(JSON.stringify(SIMPLE_NORMALIZED));
    expect(() => validateModelConfig(cfg, { modelName: 'simple', signature: SIMPLE_SIG })).not.toThrow();
  });

  it('keeps user map keys such as __proto__ as plain data through normalisation', () => {
    const cfg = normalize(`${SIMPLE}\nmetric_tags { key: "__proto__" value: "x" } parameters { key: "constructor" value { } }`);
    expect(Object.keys(cfg.metric_tags)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(cfg.metric_tags)).toBe(Object.prototype);
    expect(JSON.stringify(cfg.metric_tags)).toBe('{"__proto__":"x"}');
    expect(cfg.parameters).toEqual({ constructor: { string_value: '' } });
  });

  it('does not modify the raw config it is given', () => {
    const raw = parseModelConfigText(SIMPLE);
    const copy = structuredClone(raw);
    normalizeModelConfig(raw, ctx({ signature: SIMPLE_SIG }));
    expect(raw).toEqual(copy);
  });

  it('takes the name from the model directory and fills backend and model file name', () => {
    const cfg = normalizeModelConfig({}, ctx({ modelName: 'resnet', autoComplete: false }));
    expect([cfg.name, cfg.platform, cfg.backend, cfg.default_model_filename]).toEqual(['resnet', 'onnxruntime_onnx', 'onnxruntime', 'model.onnx']);
    expect(cfg.max_batch_size).toBe(0);
    expect(cfg.input).toEqual([]);
  });

  it('fills platform from backend and backend from platform, as Triton does', () => {
    const fromBackend = normalize('backend: "onnxruntime"');
    expect([fromBackend.platform, fromBackend.backend]).toEqual(['onnxruntime_onnx', 'onnxruntime']);
    const python = normalize('backend: "python"');
    expect([python.platform, python.backend, python.default_model_filename]).toEqual(['', 'python', 'model.py']);
    const byFile = normalize('default_model_filename: "model.py"');
    expect([byFile.platform, byFile.backend]).toEqual(['', 'python']);
    const trt = normalize('platform: "tensorrt_plan"');
    expect([trt.backend, trt.default_model_filename]).toEqual(['tensorrt', 'model.plan']);
    const custom = normalize('platform: "onnxruntime_onnx" default_model_filename: "net.onnx"');
    expect(custom.default_model_filename).toBe('net.onnx');
    const mismatch = normalize('platform: "onnxruntime_onnx" backend: "tensorrt"');
    expect([mismatch.platform, mismatch.backend]).toEqual(['onnxruntime_onnx', 'tensorrt']); // left for validation
  });

  it('fills dynamic_batching defaults: preferred = max_batch_size, default queue policy', () => {
    const cfg = normalize(`${SIMPLE}\ndynamic_batching { }`);
    expect(cfg.dynamic_batching).toEqual({
      preferred_batch_size: [8],
      max_queue_delay_microseconds: 0,
      preserve_ordering: false,
      priority_levels: 0,
      default_priority_level: 0,
      default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 0, allow_timeout_override: false, max_queue_size: 0 },
      priority_queue_policy: {},
    });
    const given = normalize(`${SIMPLE}\ndynamic_batching { preferred_batch_size: [ 2, 4 ] priority_queue_policy { key: 1 value { max_queue_size: 3 } } }`);
    expect(given.dynamic_batching?.preferred_batch_size).toEqual([2, 4]);
    expect(given.dynamic_batching?.priority_queue_policy).toEqual({
      1: { timeout_action: 'REJECT', default_timeout_microseconds: 0, allow_timeout_override: false, max_queue_size: 3 },
    });
  });

  it('fills sequence_batching defaults: 1 s idle, every control field printed', () => {
    const cfg = normalize(`${SIMPLE}\nsequence_batching { oldest { max_candidate_sequences: 4 } control_input { name: "START" control { int32_false_true: [ 0, 1 ] } } }`);
    expect(cfg.sequence_batching).toEqual({
      oldest: { max_candidate_sequences: 4, preferred_batch_size: [8], max_queue_delay_microseconds: 0, preserve_ordering: false },
      max_sequence_idle_microseconds: 1_000_000,
      control_input: [{
        name: 'START',
        control: [{ kind: 'CONTROL_SEQUENCE_START', int32_false_true: [0, 1], fp32_false_true: [], bool_false_true: [], data_type: 'TYPE_INVALID' }],
      }],
      state: [],
      iterative_sequence: false,
    });
    expect(cfg.dynamic_batching).toBeUndefined();
  });

  it('keeps version policies and only defaults a missing one', () => {
    expect(normalize(`${SIMPLE}\nversion_policy { all {} }`).version_policy).toEqual({ all: {} });
    expect(normalize(`${SIMPLE}\nversion_policy { specific { versions: 2 } }`).version_policy).toEqual({ specific: { versions: [2] } });
    expect(normalize(`${SIMPLE}\nversion_policy { latest { } }`).version_policy).toEqual({ latest: { num_versions: 0 } });
  });

  it('prints warmup entries with defaults but leaves unset oneof members out', () => {
    const cfg = normalize(`${SIMPLE}\nmodel_warmup { name: "w" batch_size: 1 inputs { key: "INPUT0" value { data_type: TYPE_INT32 dims: 16 zero_data: true } } }`);
    expect(cfg.model_warmup).toEqual([{ name: 'w', batch_size: 1, inputs: { INPUT0: { data_type: 'TYPE_INT32', dims: [16], zero_data: true } }, count: 0 }]);
  });
});

describe('normalizeModelConfig: instance groups (core NormalizeInstanceGroup)', () => {
  const groups = (extra: string, over: Partial<NormalizeContext> = {}) => normalize(`${SIMPLE}\n${extra}`, over).instance_group;

  it('without instance_group: one group named after the model, CPU, 2 instances on ONNX Runtime', () => {
    expect(groups('')).toEqual([{ name: 'simple', kind: 'KIND_CPU', count: 2, gpus: [], secondary_devices: [], profile: [], passive: false, host_policy: '' }]);
  });

  it('without instance_group on a GPU host: one KIND_GPU instance on each GPU', () => {
    expect(groups('', { hasGpu: true })).toEqual([{ name: 'simple', kind: 'KIND_GPU', count: 1, gpus: [0], secondary_devices: [], profile: [], passive: false, host_policy: '' }]);
    expect(groups('', { hasGpu: true, gpuIds: [0, 1] })[0].gpus).toEqual([0, 1]);
  });

  it('names groups <model>_<index>, resolves KIND_AUTO, and defaults counts per kind and backend', () => {
    const g = groups('instance_group [ { kind: KIND_CPU }, { count: 3 }, { name: "mine" kind: KIND_GPU }, { kind: KIND_MODEL } ]', { hasGpu: true, gpuIds: [0, 1] });
    expect(g.map((x) => [x.name, x.kind, x.count, x.gpus])).toEqual([
      ['simple_0', 'KIND_CPU', 2, []],
      ['simple_1', 'KIND_GPU', 3, [0, 1]],
      ['mine', 'KIND_GPU', 1, [0, 1]],
      ['simple_3', 'KIND_MODEL', 1, []],
    ]);
  });

  it('resolves KIND_AUTO to CPU when a listed GPU is missing or there is no GPU', () => {
    expect(groups('instance_group { gpus: [ 3 ] }', { hasGpu: true, gpuIds: [0] })[0].kind).toBe('KIND_CPU');
    expect(groups('instance_group { kind: KIND_AUTO }', { hasGpu: false })[0].kind).toBe('KIND_CPU');
  });

  it('defaults a CPU group of another backend to 1 instance', () => {
    const g = normalizeModelConfig(parseModelConfigText('backend: "python" instance_group { kind: KIND_CPU }'), ctx({ autoComplete: false })).instance_group;
    expect(g[0].count).toBe(1);
  });

  it('keeps an explicit count and replaces a count below 1', () => {
    expect(groups('instance_group { kind: KIND_CPU count: 4 }')[0].count).toBe(4);
    expect(groups('instance_group { kind: KIND_CPU count: -1 }')[0].count).toBe(2);
  });
});

describe('normalizeModelConfig: ensembles', () => {
  it('adds no instance group or optimization and keeps max_inflight_requests', () => {
    const cfg = normalizeModelConfig(parseModelConfigText(ENSEMBLE), ctx({ modelName: 'ensemble_model', signature: SIMPLE_SIG }));
    expect(cfg.instance_group).toEqual([]);
    expect(cfg.optimization).toBeUndefined();
    expect([cfg.platform, cfg.backend, cfg.default_model_filename]).toEqual(['ensemble', '', '']);
    expect(cfg.ensemble_scheduling?.max_inflight_requests).toBe(0);
    expect(cfg.ensemble_scheduling?.step[0]).toEqual({
      model_name: 'preprocess', model_version: -1, input_map: { RAW_IMAGE: 'IMAGE' }, output_map: { PREPROCESSED_OUTPUT: 'preprocessed_image' }, model_namespace: '',
    });
    expect(() => validateModelConfig(cfg, { modelName: 'ensemble_model' })).not.toThrow();
  });

  it('accepts the newer name max_inflight_responses for the same field', () => {
    const cfg = normalizeModelConfig(parseModelConfigText(ENSEMBLE.replace('step [', 'max_inflight_responses: 16\n  step [')), ctx({ modelName: 'ensemble_model' }));
    expect(cfg.ensemble_scheduling?.max_inflight_requests).toBe(16);
    expect('max_inflight_responses' in (cfg.ensemble_scheduling ?? {})).toBe(false);
  });
});

describe('auto-complete from the model signature', () => {
  it('builds the whole config of a batchable model: max_batch_size 4, dynamic batching, dims without the batch dim', () => {
    const cfg = normalizeModelConfig({}, ctx({ signature: SIMPLE_SIG }));
    expect(cfg.max_batch_size).toBe(4);
    expect(cfg.dynamic_batching?.preferred_batch_size).toEqual([4]);
    expect(cfg.input.map((i) => [i.name, i.data_type, i.dims, i.reshape])).toEqual([
      ['INPUT0', 'TYPE_INT32', [16], undefined], ['INPUT1', 'TYPE_INT32', [16], undefined],
    ]);
    expect(cfg.output.map((o) => [o.name, o.data_type, o.dims])).toEqual([['OUTPUT0', 'TYPE_INT32', [16]], ['OUTPUT1', 'TYPE_INT32', [16]]]);
    expect(cfg.input[0]).toEqual({
      name: 'INPUT0', data_type: 'TYPE_INT32', format: 'FORMAT_NONE', dims: [16],
      is_shape_tensor: false, allow_ragged_batch: false, optional: false, is_non_linear_format_io: false,
    });
    expect(() => validateModelConfig(cfg, { modelName: 'simple', signature: SIMPLE_SIG })).not.toThrow();
  });

  it('uses defaultMaxBatchSize, and no dynamic batching when it is 1', () => {
    expect(normalizeModelConfig({}, ctx({ signature: SIMPLE_SIG, defaultMaxBatchSize: 16 })).max_batch_size).toBe(16);
    const one = normalizeModelConfig({}, ctx({ signature: SIMPLE_SIG, defaultMaxBatchSize: 1 }));
    expect([one.max_batch_size, one.dynamic_batching]).toEqual([1, undefined]);
  });

  it('does not infer batching when a tensor has a fixed first dimension: max_batch_size 0 and full shapes', () => {
    const fixed = sig([['x', 'FP32', [1, 3, 224, 224]]], [['y', 'FP32', [-1, 1000]]]);
    const cfg = normalizeModelConfig({}, ctx({ modelName: 'cls', signature: fixed }));
    expect(cfg.max_batch_size).toBe(0);
    expect(cfg.dynamic_batching).toBeUndefined();
    expect(cfg.input[0].dims).toEqual([1, 3, 224, 224]);
    expect(cfg.output[0].dims).toEqual([-1, 1000]);
    expect(() => validateModelConfig(cfg, { modelName: 'cls', signature: fixed })).not.toThrow();
  });

  it('gives a batch-only tensor dims [1] and an empty reshape', () => {
    const s = sig([['ids', 'INT64', [-1]]], [['score', 'FP32', [-1]]]);
    const cfg = normalizeModelConfig({}, ctx({ modelName: 'm', signature: s }));
    expect(cfg.input[0].dims).toEqual([1]);
    expect(cfg.input[0].reshape).toEqual({ shape: [] });
    expect(() => validateModelConfig(cfg, { modelName: 'm', signature: s })).not.toThrow();
    // A scalar model tensor without batching becomes dims [1] with no reshape.
    const scalar = sig([['x', 'FP32', []]], [['y', 'FP32', [2]]]);
    const c2 = normalizeModelConfig({}, ctx({ modelName: 'm', signature: scalar }));
    expect([c2.max_batch_size, c2.input[0].dims, c2.input[0].reshape]).toEqual([0, [1], undefined]);
    expect(() => validateModelConfig(c2, { modelName: 'm', signature: scalar })).not.toThrow();
  });

  it('keeps an explicit max_batch_size: 0 on a batchable model (Triton would overwrite it)', () => {
    const cfg = normalizeModelConfig(parseModelConfigText('max_batch_size: 0'), ctx({ signature: SIMPLE_SIG }));
    expect(cfg.max_batch_size).toBe(0);
    expect(cfg.dynamic_batching).toBeUndefined();
    expect(cfg.input[0].dims).toEqual([-1, 16]);
  });

  it('keeps an explicit max_batch_size and an explicit scheduler', () => {
    const cfg = normalizeModelConfig(parseModelConfigText('max_batch_size: 32 sequence_batching { }'), ctx({ signature: SIMPLE_SIG }));
    expect([cfg.max_batch_size, cfg.dynamic_batching, cfg.sequence_batching?.max_sequence_idle_microseconds]).toEqual([32, undefined, 1_000_000]);
  });

  it('refuses a non-zero max_batch_size for a model that cannot batch', () => {
    const fixed = sig([['x', 'FP32', [2, 16]]], [['y', 'FP32', [2, 16]]]);
    expect(errorOf(() => normalizeModelConfig(parseModelConfigText('max_batch_size: 8'), ctx({ modelName: 'm', signature: fixed }))))
      .toBe("model 'm': auto-complete failed: config.pbtxt sets max_batch_size 8, but the model cannot batch: its tensor 'x' has shape [2, 16], "
        + 'and batching needs a dynamic (-1) first dimension on every input and output; set max_batch_size: 0, or export the model with a dynamic batch dimension');
  });

  it('completes partially given inputs and outputs (name only, name + dims) and keeps what is given', () => {
    const text = `
      max_batch_size: 8
      input [ { name: "INPUT1" }, { name: "INPUT0" dims: [ -1 ] optional: true } ]
      output { name: "OUTPUT1" data_type: TYPE_INT32 }`;
    const cfg = normalize(text, { signature: SIMPLE_SIG });
    expect(cfg.input.map((i) => [i.name, i.data_type, i.dims, i.optional])).toEqual([
      ['INPUT1', 'TYPE_INT32', [16], false], ['INPUT0', 'TYPE_INT32', [-1], true],
    ]);
    expect(cfg.output.map((o) => [o.name, o.data_type, o.dims])).toEqual([['OUTPUT1', 'TYPE_INT32', [16]]]);
    expect(cfg.max_batch_size).toBe(8);
    expect(cfg.dynamic_batching?.preferred_batch_size).toEqual([8]);
    expect(() => validateModelConfig(cfg, { modelName: 'simple', signature: SIMPLE_SIG })).not.toThrow();
  });

  it('appends model inputs the config does not feed, but not control inputs, and keeps an output subset', () => {
    // Like a VAD model: only the scalar input needs a config entry; the rest comes from the model.
    const vad = sig(
      [['input', 'FP32', [-1, -1]], ['sr', 'INT64', []], ['h', 'FP32', [2, -1, 64]]],
      [['output', 'FP32', [-1, 1]], ['hn', 'FP32', [2, -1, 64]]],
    );
    const cfg = normalizeModelConfig(parseModelConfigText('max_batch_size: 0\ninput [ { name: "sr" data_type: TYPE_INT64 dims: [ 1 ] reshape: { shape: [ ] } } ]'), ctx({ modelName: 'vad', signature: vad }));
    expect(cfg.input.map((i) => [i.name, i.dims, i.reshape])).toEqual([
      ['sr', [1], { shape: [] }], ['input', [-1, -1], undefined], ['h', [2, -1, 64], undefined],
    ]);
    expect(cfg.output.map((o) => [o.name, o.dims])).toEqual([['output', [-1, 1]], ['hn', [2, -1, 64]]]);
    expect(() => validateModelConfig(cfg, { modelName: 'vad', signature: vad })).not.toThrow();

    const seqSig = sig([['INPUT', 'INT32', [-1, 1]], ['START', 'INT32', [-1, 1]]], [['OUTPUT', 'INT32', [-1, 1]], ['EXTRA', 'INT32', [-1, 1]]]);
    const seq = normalizeModelConfig(parseModelConfigText(`max_batch_size: 4
      sequence_batching { control_input { name: "START" control { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } } }
      output { name: "OUTPUT" }`), ctx({ modelName: 'seq', signature: seqSig }));
    expect(seq.input.map((i) => i.name)).toEqual(['INPUT']);
    expect(seq.output.map((o) => o.name)).toEqual(['OUTPUT']);
    expect(() => validateModelConfig(seq, { modelName: 'seq', signature: seqSig })).not.toThrow();
  });

  it('fills outputs when only inputs are given', () => {
    const cfg = normalize('max_batch_size: 2 input [ { name: "INPUT0" data_type: TYPE_INT32 dims: [ 16 ] }, { name: "INPUT1" data_type: TYPE_INT32 dims: [ 16 ] } ]', { signature: SIMPLE_SIG });
    expect(cfg.output.map((o) => o.name)).toEqual(['OUTPUT0', 'OUTPUT1']);
    expect(cfg.dynamic_batching).toBeDefined();
  });

  it('refuses a config input the model does not have, listing the model inputs', () => {
    expect(errorOf(() => normalize('input { name: "IMAGE" }', { signature: SIMPLE_SIG })))
      .toBe("model 'simple': config.pbtxt declares input 'IMAGE', but the model has no such input; the model's inputs are 'INPUT0', 'INPUT1'");
  });

  it('leaves a complete config alone: no inferred max_batch_size, no dynamic batching', () => {
    const cfg = normalize(SIMPLE.replace('max_batch_size: 8\n', ''), { signature: sig([['INPUT0', 'INT32', [16]], ['INPUT1', 'INT32', [16]]], [['OUTPUT0', 'INT32', [16]], ['OUTPUT1', 'INT32', [16]]]) });
    expect(cfg.max_batch_size).toBe(0);
    expect(normalize(SIMPLE, { signature: SIMPLE_SIG }).dynamic_batching).toBeUndefined();
  });

  it('does nothing when auto-complete is off or there is no signature', () => {
    const off = normalizeModelConfig({}, ctx({ signature: SIMPLE_SIG, autoComplete: false }));
    expect([off.max_batch_size, off.input, off.output, off.dynamic_batching]).toEqual([0, [], [], undefined]);
    const noSig = normalizeModelConfig({}, ctx());
    expect([noSig.max_batch_size, noSig.input]).toEqual([0, []]);
  });
});

describe('validateModelConfig', () => {
  const ok = (text: string, over: Partial<NormalizeContext> = {}) => {
    const cfg = normalize(text, over);
    expect(() => validateModelConfig(cfg, { modelName: over.modelName ?? 'simple' })).not.toThrow();
  };

  it('accepts simple, doc-style configs and the reshape idioms', () => {
    ok(SIMPLE);
    ok(`${SIMPLE}\ninput { name: "in" data_type: TYPE_FP32 dims: [ 1 ] reshape: { shape: [ ] } }`);
    ok(`${SIMPLE}\ninput { name: "in" data_type: TYPE_FP32 dims: [ 2, 4, -1, 6 ] reshape: { shape: [ 8, -1, 1, 6 ] } }`);
    ok(`${SIMPLE}\ndynamic_batching { preferred_batch_size: [ 4, 8 ] priority_levels: 2 default_priority_level: 1 priority_queue_policy { key: 2 value { max_queue_size: 2 } } }`);
  });

  it('requires the name to equal the directory name', () => {
    expect(validationError(SIMPLE, {}, { modelName: 'other' }))
      .toBe("model 'other': config.pbtxt says name: \"simple\", but the model directory is 'other'; the name must equal the directory name: fix 'name' or rename the directory");
  });

  it('checks platform and backend', () => {
    expect(validationError('platform: "onnxruntime_onnx" backend: "tensorrt"'))
      .toBe("model 'simple': unexpected 'platform' and 'backend' pair, got: onnxruntime_onnx, tensorrt; backend 'tensorrt' serves platform 'tensorrt_plan'");
    expect(validationError('platform: "caffe2_netdef"')).toMatch(/^model 'simple': unexpected platform type 'caffe2_netdef'; known platforms are onnxruntime_onnx, /);
    expect(validationError('', { defaultPlatform: '' })).toBe("model 'simple': must specify 'platform' or 'backend' (for an ONNX model: platform: \"onnxruntime_onnx\")");
    expect(validationError('platform: "ensemble" backend: "python"')).toMatch(/an ensemble must have platform 'ensemble' and no backend/);
    expect(validationError('platform: "ensemble"')).toMatch(/platform is 'ensemble', so ensemble_scheduling must be set/);
  });

  it('checks max_batch_size and the version policy', () => {
    expect(validationError('max_batch_size: -1')).toBe("model 'simple': 'max_batch_size' must be non-negative (0 disables batching), got -1");
    expect(validationError('version_policy { latest { } }')).toBe("model 'simple': version_policy latest num_versions must be >= 1, got 0");
    expect(validationError('version_policy { specific { } }')).toMatch(/version_policy specific must list at least one version/);
    expect(validationError('version_policy { }')).toMatch(/version_policy must set exactly one of latest, all or specific/);
  });

  it('checks inputs and outputs', () => {
    const io = (s: string) => validationError(`max_batch_size: 8 input { ${s} }`);
    expect(io('data_type: TYPE_FP32 dims: 1')).toBe("model 'simple': input 0 must specify 'name'");
    expect(io('name: "x" dims: [ 3 ]')).toBe("model 'simple', input 'x': must specify 'data_type' (e.g. data_type: TYPE_FP32)");
    expect(io('name: "x" data_type: TYPE_FP32')).toMatch(/^model 'simple', input 'x': must specify 'dims' \(rank >= 1\); for a tensor that is only the batch dimension use dims: \[ 1 \] with reshape/);
    expect(io('name: "x" data_type: TYPE_FP32 dims: [ 3, 0 ]')).toBe("model 'simple', input 'x': dimension 0 in dims [3, 0] must be an integer >= 1, or -1 for a variable-size dimension");
    expect(io('name: "x" data_type: TYPE_FP32 dims: [ -2 ]')).toMatch(/dimension -2 in dims \[-2\]/);
    expect(io('name: "x" data_type: TYPE_FP32 dims: [ 4 ] reshape { shape: [ 3 ] }')).toBe("model 'simple', input 'x': dims [4] and reshape [3] must hold the same number of elements (and the same variable-size dimensions)");
    expect(io('name: "x" data_type: TYPE_FP32 dims: [ 2 ] reshape { shape: [ ] }')).toMatch(/dims \[2\] and reshape \[\] must hold the same number of elements/);
    expect(io('name: "x" data_type: TYPE_FP32 dims: [ -1, 4 ] reshape { shape: [ 4 ] }')).toMatch(/same variable-size dimensions/);
    expect(io('name: "x" data_type: TYPE_FP32 dims: [ 4 ] format: FORMAT_NCHW')).toBe("model 'simple', input 'x': format FORMAT_NCHW needs exactly 3 dims (without the batch dimension), got [4]");
    expect(io('name: "x" data_type: TYPE_FP32 dims: [ 4 ] is_non_linear_format_io: true')).toMatch(/only supported for the TensorRT platform/);
    // Deliberately accepted (Triton refuses it): a scalar input of a non-batching model.
    const scalar = normalize('input { name: "x" data_type: TYPE_FP32 dims: [ 1 ] reshape { shape: [ ] } } output { name: "y" data_type: TYPE_FP32 dims: 2 }');
    expect(() => validateModelConfig(scalar, { modelName: 'simple', signature: sig([['x', 'FP32', []]], [['y', 'FP32', [2]]]) })).not.toThrow();
    expect(errorOf(() => validateModelConfig(scalar, { modelName: 'simple', signature: sig([['x', 'FP32', [1]]], [['y', 'FP32', [2]]]) })))
      .toBe("model 'simple', tensor 'x': the model's shape is [1], but config.pbtxt gives reshape []; set reshape: [1] (-1 for a variable dimension)");
    expect(validationError('input [ { name: "x" data_type: TYPE_FP32 dims: 1 }, { name: "x" data_type: TYPE_FP32 dims: 1 } ]'))
      .toBe("model 'simple': input 'x' is declared more than once");
    expect(validationError('output { name: "y" dims: 1 }')).toMatch(/^model 'simple', output 'y': must specify 'data_type'/);
  });

  it('checks batch inputs and outputs', () => {
    expect(validationError(`${SIMPLE}\nbatch_input { kind: BATCH_ELEMENT_COUNT target_name: "N" data_type: TYPE_INT32 source_input: "NOPE" }`))
      .toBe("model 'simple': unknown batch input source input name 'NOPE'");
    expect(validationError(`${SIMPLE}\nbatch_input { target_name: "N" data_type: TYPE_INT64 source_input: "INPUT0" }`))
      .toMatch(/batch input data type must be TYPE_INT32 or TYPE_FP32/);
    expect(validationError(`${SIMPLE}\nbatch_output { target_name: [ "OUTPUT0", "OUTPUT0" ] source_input: "INPUT0" }`))
      .toMatch(/batch output target output name 'OUTPUT0' can only be specified once/);
  });

  it('checks dynamic batching', () => {
    const db = (s: string) => validationError(`${SIMPLE}\ndynamic_batching { ${s} }`);
    expect(db('preferred_batch_size: [ 4, 16 ]')).toBe("model 'simple': dynamic_batching preferred_batch_size 16 must be <= max_batch_size (8); lower it or raise max_batch_size");
    expect(db('preferred_batch_size: [ 0 ]')).toBe("model 'simple': dynamic_batching preferred_batch_size 0 must be positive");
    expect(db('priority_levels: 2')).toBe("model 'simple': dynamic_batching default_priority_level 0 must be in range [1, 2] (priority_levels is 2)");
    expect(db('priority_levels: 2 default_priority_level: 3')).toMatch(/default_priority_level 3 must be in range \[1, 2\]/);
    expect(db('priority_levels: 2 default_priority_level: 1 priority_queue_policy { key: 3 value { } }'))
      .toBe("model 'simple': dynamic_batching priority_queue_policy key 3 must be a priority level in range [1, 2]");
    expect(db('priority_queue_policy { key: 1 value { } }')).toMatch(/key 1 must be a priority level in range \[1, 0\] \(set priority_levels first\)/);
    expect(db('preserve_ordering: true priority_levels: 2 default_priority_level: 1'))
      .toBe("model 'simple': only one priority level is allowed when 'preserve_ordering' is true (priority_levels is 2)");
    expect(db('preserve_ordering: true default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 100 }'))
      .toMatch(/cannot use timeout_action DELAY when 'preserve_ordering' is true/);
    // dynamic batching without Triton batching is a queue of batches of one: accepted.
    expect(() => validateModelConfig(normalize('dynamic_batching { }'), { modelName: 'simple' })).not.toThrow();
  });

  it('checks sequence batching controls', () => {
    const sb = (s: string) => validationError(`${SIMPLE}\nsequence_batching { ${s} }`);
    expect(sb('control_input { name: "S" control { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] fp32_false_true: [ 0, 1 ] } }'))
      .toBe("model 'simple': control CONTROL_SEQUENCE_START of tensor 'S' must give exactly one of int32_false_true, fp32_false_true or bool_false_true (got 2)");
    expect(sb('control_input { name: "S" control { kind: CONTROL_SEQUENCE_END bool_false_true: [ true ] } }'))
      .toBe("model 'simple': control CONTROL_SEQUENCE_END of tensor 'S': 'bool_false_true' must have exactly 2 entries, [false value, true value]; it has 1");
    expect(sb('control_input { name: "C" control { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_FP32 } }'))
      .toMatch(/control CONTROL_SEQUENCE_CORRID of tensor 'C' has data_type TYPE_FP32; allowed are TYPE_UINT64/);
    expect(sb('control_input { name: "A" control { kind: CONTROL_SEQUENCE_START int32_false_true: [0, 1] } } control_input { name: "B" control { kind: CONTROL_SEQUENCE_START int32_false_true: [0, 1] } }'))
      .toBe("model 'simple': sequence batching specifies CONTROL_SEQUENCE_START more than once (tensors 'A' and 'B')");
    expect(sb('control_input { name: "A" } control_input { name: "A" }')).toMatch(/control tensor 'A' is given in more than one control_input/);
    expect(sb('oldest { preferred_batch_size: [ 9 ] }')).toMatch(/sequence batching preferred_batch_size 9 must be <= max_batch_size \(8\)/);
    expect(sb('direct { minimum_slot_utilization: 1.5 }')).toMatch(/minimum_slot_utilization 1.5 must be in range \[0.0, 1.0\]/);
    expect(validationError(`${SIMPLE}\nsequence_batching { }\nresponse_cache { enable: true }`)).toMatch(/response cache does not support models with sequence batching/);
  });

  it('checks ensembles', () => {
    const ens = (text: string) => validationError(text, { modelName: 'ensemble_model' });
    expect(ens(ENSEMBLE.replace('"segmenter"', '"segmenter"\n output_map { key: "X" value: "CLASSIFICATION" }')))
      .toBe("ensemble 'ensemble_model': ensemble tensor 'CLASSIFICATION' can appear in an output map only once (steps 1 and 2)");
    expect(ens(ENSEMBLE.replace('value: "IMAGE"', 'value: "PICTURE"')))
      .toBe("ensemble 'ensemble_model': ensemble input 'IMAGE' is not used by any step's input_map");
    expect(ens(ENSEMBLE.replace('key: "CLASSIFICATION_OUTPUT" value: "CLASSIFICATION"', 'key: "CLASSIFICATION_OUTPUT" value: "LABELS"')))
      .toBe("ensemble 'ensemble_model': ensemble output 'CLASSIFICATION' is not written by any step's output_map");
    expect(ens(ENSEMBLE.replace('key: "FORMATTED_IMAGE" value: "preprocessed_image" }\n      output_map { key: "SEGMENTATION_OUTPUT"', 'key: "FORMATTED_IMAGE" value: "mask" }\n      output_map { key: "SEGMENTATION_OUTPUT"')))
      .toBe("ensemble 'ensemble_model': output 'SEGMENTATION' is never written: step 'segmenter' waits for 'mask', which nothing provides");
    expect(ens(ENSEMBLE.replace('platform: "ensemble"', 'platform: "onnxruntime_onnx"')))
      .toMatch(/ensemble_scheduling cannot be set for a model whose platform is not 'ensemble' \(it is 'onnxruntime_onnx'\)/);
    expect(ens(`${ENSEMBLE}\ninstance_group { kind: KIND_CPU }`)).toMatch(/instance_group must not be specified for an ensemble/);
    expect(ens(ENSEMBLE.replace('model_name: "classifier"', 'model_name: ""'))).toBe("ensemble 'ensemble_model': step 1 must specify 'model_name'");
  });

  it('checks instance groups', () => {
    expect(validationError(`${SIMPLE}\ninstance_group { kind: KIND_CPU gpus: [ 0 ] }`))
      .toBe("model 'simple', instance group 'simple_0': has kind KIND_CPU but specifies GPUs [0]; remove 'gpus' or use kind: KIND_GPU");
    expect(validationError(`${SIMPLE}\ninstance_group { kind: KIND_GPU }`, { hasGpu: false }))
      .toBe("model 'simple', instance group 'simple_0': has kind KIND_GPU but no GPUs are available; use kind: KIND_CPU (or KIND_AUTO)");
    expect(validationError(`${SIMPLE}\ninstance_group { kind: KIND_GPU gpus: 0 }`, { hasGpu: true }, { hasGpu: false }))
      .toMatch(/has kind KIND_GPU but no GPUs are available/);
    expect(validationError(`${SIMPLE}\ninstance_group { kind: KIND_CPU profile: "0" }`)).toMatch(/'profile' is only supported for the TensorRT platform/);
    const cfg = normalize(SIMPLE);
    cfg.instance_group[0].count = 0;
    expect(errorOf(() => validateModelConfig(cfg, { modelName: 'simple' }))).toBe("model 'simple', instance group 'simple': count must be >= 1, got 0");
  });

  it('checks warmup, decoupled + cache and model metrics', () => {
    const w = (s: string) => validationError(`${SIMPLE}\nmodel_warmup { name: "w" ${s} }`);
    expect(w('batch_size: 0')).toBe("model 'simple', warmup 'w': batch_size must be >= 1, got 0");
    expect(w('batch_size: 9')).toBe("model 'simple', warmup 'w': batch_size 9 is larger than max_batch_size 8");
    expect(w('batch_size: 1 inputs { key: "NOPE" value { data_type: TYPE_INT32 dims: 16 zero_data: true } }'))
      .toBe("model 'simple', warmup 'w': input 'NOPE' is not an input of the model; known inputs are 'INPUT0', 'INPUT1'");
    expect(w('batch_size: 1 inputs { key: "INPUT0" value { data_type: TYPE_INT32 dims: 16 } }'))
      .toBe("model 'simple', warmup 'w', input 'INPUT0': must specify one of zero_data, random_data or input_data_file");
    expect(validationError(`${SIMPLE}\nmodel_transaction_policy { decoupled: true } response_cache { enable: true }`))
      .toMatch(/the response cache does not support decoupled models/);
    expect(validationError(`${SIMPLE}\nmodel_metrics { metric_control { metric_identifier { family: "x" } } }`))
      .toBe("model 'simple': model_metrics metric_control must specify 'histogram_options'");
  });
});

describe('validateModelConfig against the model signature', () => {
  const check = (text: string, s: ModelSignature) => validationError(text, {}, { signature: s });

  it('reports a datatype mismatch in the words of the brief', () => {
    const fp32 = sig([['INPUT0', 'FP32', [-1, 16]], ['INPUT1', 'INT32', [-1, 16]]], SIMPLE_SIG.outputs.map((t) => [t.name, t.datatype, t.shape]));
    expect(check(SIMPLE, fp32)).toBe("model 'simple', tensor 'INPUT0': the model expects TYPE_FP32, but config.pbtxt says TYPE_INT32; set data_type: TYPE_FP32");
  });

  it('reports a tensor the model does not have', () => {
    const renamed = sig([['INPUT0', 'INT32', [-1, 16]], ['INPUT1', 'INT32', [-1, 16]]], [['OUT', 'INT32', [-1, 16]]]);
    expect(check(SIMPLE, renamed)).toBe("model 'simple': config.pbtxt declares output 'OUTPUT0', but the model has no such output; the model's outputs are 'OUT'");
  });

  it('reports incompatible dims, with and without the batch dimension', () => {
    const wide = sig([['INPUT0', 'INT32', [-1, 32]], ['INPUT1', 'INT32', [-1, 16]]], SIMPLE_SIG.outputs.map((t) => [t.name, t.datatype, t.shape]));
    expect(check(SIMPLE, wide)).toBe("model 'simple', tensor 'INPUT0': the model's shape is [-1, 32], but config.pbtxt gives dims [16] (with the batch dimension: [-1, 16]); set dims: [32] without the batch dimension (-1 for a variable dimension)");
    const rank = sig([['x', 'FP32', [3, 4]]], []);
    expect(check('input { name: "x" data_type: TYPE_FP32 dims: [ 12 ] }', rank))
      .toBe("model 'simple', tensor 'x': the model's shape is [3, 4], but config.pbtxt gives dims [12]; set dims: [3, 4] (-1 for a variable dimension)");
  });

  it('accepts -1 on either side and checks reshape against the model', () => {
    const dyn = sig([['x', 'FP32', [-1, -1, 3]]], [['y', 'FP32', [-1, 5]]]);
    const withDims = (d: string) => normalize(`max_batch_size: 4 input { name: "x" data_type: TYPE_FP32 dims: [ ${d} ] } output { name: "y" data_type: TYPE_FP32 dims: [ -1 ] }`);
    expect(() => validateModelConfig(withDims('7, 4'), { modelName: 'simple', signature: dyn })).toThrow(/the model's shape is \[-1, -1, 3\], but config\.pbtxt gives dims \[7, 4\]/);
    expect(() => validateModelConfig(withDims('7, -1'), { modelName: 'simple', signature: dyn })).not.toThrow();
    expect(() => validateModelConfig(withDims('7'), { modelName: 'simple', signature: dyn })).toThrow(/gives dims \[7\]/);
    expect(() => validateModelConfig(normalize('max_batch_size: 4 input { name: "x" data_type: TYPE_FP32 dims: [ 7, 3 ] } output { name: "y" data_type: TYPE_FP32 dims: [ -1 ] }'), { modelName: 'simple', signature: dyn })).not.toThrow();
    const flat = sig([['x', 'FP32', [-1, 6]]], [['y', 'FP32', [-1]]]);
    const reshaped = normalize('max_batch_size: 4 input { name: "x" data_type: TYPE_FP32 dims: [ 2, 3 ] reshape { shape: [ 6 ] } } output { name: "y" data_type: TYPE_FP32 dims: [ 1 ] reshape { shape: [ ] } }');
    expect(() => validateModelConfig(reshaped, { modelName: 'simple', signature: flat })).not.toThrow();
    const wrongReshape = normalize('max_batch_size: 4 input { name: "x" data_type: TYPE_FP32 dims: [ 2, 4 ] reshape { shape: [ 8 ] } } output { name: "y" data_type: TYPE_FP32 dims: [ 1 ] reshape { shape: [ ] } }');
    expect(errorOf(() => validateModelConfig(wrongReshape, { modelName: 'simple', signature: flat }))).toMatch(/the model's shape is \[-1, 6\], but config\.pbtxt gives reshape \[8\]/);
  });

  it('requires a dynamic first dimension in the model when max_batch_size > 0', () => {
    const fixed = sig([['INPUT0', 'INT32', [8, 16]], ['INPUT1', 'INT32', [-1, 16]]], SIMPLE_SIG.outputs.map((t) => [t.name, t.datatype, t.shape]));
    expect(check(SIMPLE, fixed)).toBe("model 'simple', tensor 'INPUT0': max_batch_size is 8, so the model needs a dynamic (-1) batch dimension first, but its shape is [8, 16]; "
      + 'set max_batch_size: 0 and give the full shape in dims, or export the model with a dynamic first dimension');
  });

  it('requires every model input to be fed, counting control inputs and state', () => {
    const extra = sig([['INPUT0', 'INT32', [-1, 16]], ['INPUT1', 'INT32', [-1, 16]], ['START', 'INT32', [-1, 1]]], SIMPLE_SIG.outputs.map((t) => [t.name, t.datatype, t.shape]));
    expect(check(SIMPLE, extra)).toBe("model 'simple': the model has input 'START' (TYPE_INT32 [-1, 1]), but config.pbtxt does not declare it; add it to 'input' (the model's inputs are 'INPUT0', 'INPUT1', 'START')");
    const seq = `${SIMPLE}\nsequence_batching { control_input { name: "START" control { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } } }`;
    expect(() => validateModelConfig(normalize(seq), { modelName: 'simple', signature: extra })).not.toThrow();
  });
});

describe('loadModelConfig', () => {
  it('parses, normalises and validates config.pbtxt text', () => {
    const cfg: ModelConfig = loadModelConfig({ text: SIMPLE, file: 'simple/config.pbtxt' }, { modelName: 'simple', autoComplete: true, signature: SIMPLE_SIG });
    expect(cfg).toEqual(SIMPLE_NORMALIZED);
  });

  it('gives the same result from config.json', () => {
    const json = JSON.stringify(SIMPLE_RAW);
    expect(loadModelConfig({ json, file: 'simple/config.json' }, { modelName: 'simple', autoComplete: true, signature: SIMPLE_SIG })).toEqual(SIMPLE_NORMALIZED);
  });

  it('builds a config from the signature alone when there is no file', () => {
    const cfg = loadModelConfig({ file: 'simple/config.pbtxt' }, { modelName: 'simple', autoComplete: true, signature: SIMPLE_SIG, hasGpu: true });
    expect([cfg.max_batch_size, cfg.input.length, cfg.instance_group[0].kind, cfg.instance_group[0].gpus]).toEqual([4, 2, 'KIND_GPU', [0]]);
  });

  it('names the file in parse and validation errors', () => {
    expect(errorOf(() => loadModelConfig({ text: 'name: "simple"\nmax_batch_size: x', file: 'simple/config.pbtxt' }, { modelName: 'simple', autoComplete: true })))
      .toBe("simple/config.pbtxt:2:17: expected an integer (int32) for field 'max_batch_size', got 'x'");
    expect(errorOf(() => loadModelConfig({ text: 'name: "other"', file: 'simple/config.pbtxt' }, { modelName: 'simple', autoComplete: true })))
      .toMatch(/^model 'simple': simple\/config\.pbtxt says name: "other"/);
  });
});
