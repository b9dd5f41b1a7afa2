/**
 * Message descriptors of Triton's `inference.ModelConfig` and every message nested in it,
 * field for field (names, numbers, types, repeated/map/oneof) as in Triton's
 * `common/protobuf/model_config.proto` (COMPAT-NOTES §3.1–§3.10). Fields are listed in the
 * `.proto` declaration order, which is the order protobuf's JSON printer uses.
 *
 * One schema serves the text-format parser, the JSON reader and the default filler, so a
 * `config.pbtxt` and the equivalent `config.json` produce the same object.
 */
import { CONFIG_TYPE_NAMES } from '../protocol/datatypes.ts';
import { enumType, field, mapField, messageType, type MessageDescriptor } from './proto-descriptor.ts';

/**
 * `inference.DataType`: TYPE_INVALID = 0 … TYPE_BF16 = 14, with hints for names people
 * write by mistake (framework names, and BYTES which is TYPE_STRING in a config, §1.6).
 */
export const DATA_TYPE_ENUM = enumType('DataType', CONFIG_TYPE_NAMES, {
  TYPE_FLOAT: 'TYPE_FP32', TYPE_FLOAT32: 'TYPE_FP32', TYPE_FLOAT16: 'TYPE_FP16', TYPE_HALF: 'TYPE_FP16',
  TYPE_FLOAT64: 'TYPE_FP64', TYPE_DOUBLE: 'TYPE_FP64', TYPE_BFLOAT16: 'TYPE_BF16', TYPE_BYTES: 'TYPE_STRING',
  BYTES: 'TYPE_STRING', TYPE_INT: 'TYPE_INT32', TYPE_LONG: 'TYPE_INT64', TYPE_STR: 'TYPE_STRING',
});

const RateLimiterResource = messageType('ModelRateLimiter.Resource', [
  field('name', 1, 'string'),
  field('global', 2, 'bool'),
  field('count', 3, 'uint32'),
]);

/** `ModelRateLimiter` (COMPAT-NOTES §3.9). */
export const MODEL_RATE_LIMITER = messageType('ModelRateLimiter', [
  field('resources', 1, RateLimiterResource, { repeated: true }),
  field('priority', 2, 'uint32'),
]);

/** `ModelInstanceGroup.Kind`. */
export const INSTANCE_GROUP_KIND_ENUM = enumType('ModelInstanceGroup.Kind', ['KIND_AUTO', 'KIND_GPU', 'KIND_CPU', 'KIND_MODEL']);

const SecondaryDevice = messageType('ModelInstanceGroup.SecondaryDevice', [
  field('kind', 1, enumType('ModelInstanceGroup.SecondaryDevice.SecondaryDeviceKind', ['KIND_NVDLA'])),
  field('device_id', 2, 'int64'),
]);

/** `ModelInstanceGroup` (COMPAT-NOTES §3.3). */
export const MODEL_INSTANCE_GROUP = messageType('ModelInstanceGroup', [
  field('name', 1, 'string'),
  field('kind', 4, INSTANCE_GROUP_KIND_ENUM),
  field('count', 2, 'int32'),
  field('rate_limiter', 6, MODEL_RATE_LIMITER),
  field('gpus', 3, 'int32', { repeated: true }),
  field('secondary_devices', 8, SecondaryDevice, { repeated: true }),
  field('profile', 5, 'string', { repeated: true }),
  field('passive', 7, 'bool'),
  field('host_policy', 9, 'string'),
]);

/** `ModelTensorReshape`. */
export const MODEL_TENSOR_RESHAPE = messageType('ModelTensorReshape', [
  field('shape', 1, 'int64', { repeated: true }),
]);

/** `ModelInput` (COMPAT-NOTES §3.1). */
export const MODEL_INPUT = messageType('ModelInput', [
  field('name', 1, 'string'),
  field('data_type', 2, DATA_TYPE_ENUM),
  field('format', 3, enumType('ModelInput.Format', ['FORMAT_NONE', 'FORMAT_NHWC', 'FORMAT_NCHW'])),
  field('dims', 4, 'int64', { repeated: true }),
  field('reshape', 5, MODEL_TENSOR_RESHAPE),
  field('is_shape_tensor', 6, 'bool'),
  field('allow_ragged_batch', 7, 'bool'),
  field('optional', 8, 'bool'),
  field('is_non_linear_format_io', 9, 'bool'),
]);

/** `ModelOutput` (COMPAT-NOTES §3.1). */
export const MODEL_OUTPUT = messageType('ModelOutput', [
  field('name', 1, 'string'),
  field('data_type', 2, DATA_TYPE_ENUM),
  field('dims', 3, 'int64', { repeated: true }),
  field('reshape', 5, MODEL_TENSOR_RESHAPE),
  field('label_filename', 4, 'string'),
  field('is_shape_tensor', 6, 'bool'),
  field('is_non_linear_format_io', 7, 'bool'),
]);

/** `BatchInput` (ragged batching helpers). */
export const BATCH_INPUT = messageType('BatchInput', [
  field('kind', 1, enumType('BatchInput.Kind', [
    'BATCH_ELEMENT_COUNT', 'BATCH_ACCUMULATED_ELEMENT_COUNT', 'BATCH_ACCUMULATED_ELEMENT_COUNT_WITH_ZERO',
    'BATCH_MAX_ELEMENT_COUNT_AS_SHAPE', 'BATCH_ITEM_SHAPE', 'BATCH_ITEM_SHAPE_FLATTEN',
  ])),
  field('target_name', 2, 'string', { repeated: true }),
  field('data_type', 3, DATA_TYPE_ENUM),
  field('source_input', 4, 'string', { repeated: true }),
]);

/** `BatchOutput`. */
export const BATCH_OUTPUT = messageType('BatchOutput', [
  field('target_name', 1, 'string', { repeated: true }),
  field('kind', 2, enumType('BatchOutput.Kind', ['BATCH_SCATTER_WITH_INPUT_SHAPE'])),
  field('source_input', 3, 'string', { repeated: true }),
]);

/** `ModelVersionPolicy` with oneof `policy_choice` (COMPAT-NOTES §3.2). */
export const MODEL_VERSION_POLICY = messageType('ModelVersionPolicy', [
  field('latest', 1, messageType('ModelVersionPolicy.Latest', [field('num_versions', 1, 'uint32')]), { oneof: 'policy_choice' }),
  field('all', 2, messageType('ModelVersionPolicy.All', []), { oneof: 'policy_choice' }),
  field('specific', 3, messageType('ModelVersionPolicy.Specific', [field('versions', 1, 'int64', { repeated: true })]), { oneof: 'policy_choice' }),
]);

const GraphShape = messageType('ModelOptimizationPolicy.Cuda.GraphSpec.Shape', [
  field('dim', 1, 'int64', { repeated: true }),
]);

const GraphSpec = messageType('ModelOptimizationPolicy.Cuda.GraphSpec', [
  field('batch_size', 1, 'int32'),
  mapField('input', 2, 'string', GraphShape),
  field('graph_lower_bound', 3, messageType('ModelOptimizationPolicy.Cuda.GraphSpec.LowerBound', [
    field('batch_size', 1, 'int32'),
    mapField('input', 2, 'string', GraphShape),
  ])),
]);

const Accelerator = messageType('ModelOptimizationPolicy.ExecutionAccelerators.Accelerator', [
  field('name', 1, 'string'),
  mapField('parameters', 2, 'string', 'string'),
]);

const PinnedMemoryBuffer = messageType('ModelOptimizationPolicy.PinnedMemoryBuffer', [field('enable', 1, 'bool')]);

/** `ModelOptimizationPolicy` (COMPAT-NOTES §3.10): parsed and carried, mostly not acted on. */
export const MODEL_OPTIMIZATION_POLICY = messageType('ModelOptimizationPolicy', [
  field('graph', 1, messageType('ModelOptimizationPolicy.Graph', [field('level', 1, 'int32')])),
  field('priority', 2, enumType('ModelOptimizationPolicy.ModelPriority', ['PRIORITY_DEFAULT', 'PRIORITY_MAX', 'PRIORITY_MIN'])),
  field('cuda', 3, messageType('ModelOptimizationPolicy.Cuda', [
    field('graphs', 1, 'bool'),
    field('busy_wait_events', 2, 'bool'),
    field('graph_spec', 3, GraphSpec, { repeated: true }),
    field('output_copy_stream', 4, 'bool'),
  ])),
  field('execution_accelerators', 4, messageType('ModelOptimizationPolicy.ExecutionAccelerators', [
    field('gpu_execution_accelerator', 1, Accelerator, { repeated: true }),
    field('cpu_execution_accelerator', 2, Accelerator, { repeated: true }),
  ])),
  field('input_pinned_memory', 5, PinnedMemoryBuffer),
  field('output_pinned_memory', 6, PinnedMemoryBuffer),
  field('gather_kernel_buffer_threshold', 7, 'uint32'),
  field('eager_batching', 8, 'bool'),
]);

/** `ModelQueuePolicy` (COMPAT-NOTES §3.4). */
export const MODEL_QUEUE_POLICY = messageType('ModelQueuePolicy', [
  field('timeout_action', 1, enumType('ModelQueuePolicy.TimeoutAction', ['REJECT', 'DELAY'])),
  field('default_timeout_microseconds', 2, 'uint64'),
  field('allow_timeout_override', 3, 'bool'),
  field('max_queue_size', 4, 'uint32'),
]);

/** `ModelDynamicBatching` (COMPAT-NOTES §3.4). */
export const MODEL_DYNAMIC_BATCHING = messageType('ModelDynamicBatching', [
  field('preferred_batch_size', 1, 'int32', { repeated: true }),
  field('max_queue_delay_microseconds', 2, 'uint64'),
  field('preserve_ordering', 3, 'bool'),
  field('priority_levels', 4, 'uint64'),
  field('default_priority_level', 5, 'uint64'),
  field('default_queue_policy', 6, MODEL_QUEUE_POLICY),
  mapField('priority_queue_policy', 7, 'uint64', MODEL_QUEUE_POLICY),
]);

/** `ModelSequenceBatching.Control.Kind`. */
export const SEQUENCE_CONTROL_KIND_ENUM = enumType('ModelSequenceBatching.Control.Kind', [
  'CONTROL_SEQUENCE_START', 'CONTROL_SEQUENCE_READY', 'CONTROL_SEQUENCE_END', 'CONTROL_SEQUENCE_CORRID',
]);

const SequenceControl = messageType('ModelSequenceBatching.Control', [
  field('kind', 1, SEQUENCE_CONTROL_KIND_ENUM),
  field('int32_false_true', 2, 'int32', { repeated: true }),
  field('fp32_false_true', 3, 'float', { repeated: true }),
  field('bool_false_true', 5, 'bool', { repeated: true }),
  field('data_type', 4, DATA_TYPE_ENUM),
]);

const InitialState = messageType('ModelSequenceBatching.InitialState', [
  field('data_type', 1, DATA_TYPE_ENUM),
  field('dims', 2, 'int64', { repeated: true }),
  field('zero_data', 3, 'bool', { oneof: 'state_data' }),
  field('data_file', 4, 'string', { oneof: 'state_data' }),
  field('name', 5, 'string'),
]);

/** `ModelSequenceBatching` with oneof `strategy_choice` (COMPAT-NOTES §3.5). */
export const MODEL_SEQUENCE_BATCHING = messageType('ModelSequenceBatching', [
  field('direct', 3, messageType('ModelSequenceBatching.StrategyDirect', [
    field('max_queue_delay_microseconds', 1, 'uint64'),
    field('minimum_slot_utilization', 2, 'float'),
  ]), { oneof: 'strategy_choice' }),
  field('oldest', 4, messageType('ModelSequenceBatching.StrategyOldest', [
    field('max_candidate_sequences', 1, 'int32'),
    field('preferred_batch_size', 2, 'int32', { repeated: true }),
    field('max_queue_delay_microseconds', 3, 'uint64'),
    field('preserve_ordering', 4, 'bool'),
  ]), { oneof: 'strategy_choice' }),
  field('max_sequence_idle_microseconds', 1, 'uint64'),
  field('control_input', 2, messageType('ModelSequenceBatching.ControlInput', [
    field('name', 1, 'string'),
    field('control', 2, SequenceControl, { repeated: true }),
  ]), { repeated: true }),
  field('state', 5, messageType('ModelSequenceBatching.State', [
    field('input_name', 1, 'string'),
    field('output_name', 2, 'string'),
    field('data_type', 3, DATA_TYPE_ENUM),
    field('dims', 4, 'int64', { repeated: true }),
    field('initial_state', 5, InitialState, { repeated: true }),
    field('use_same_buffer_for_input_output', 6, 'bool'),
    field('use_growable_memory', 7, 'bool'),
  ]), { repeated: true }),
  field('iterative_sequence', 6, 'bool'),
]);

/**
 * `ModelEnsembling` (COMPAT-NOTES §3.6). Field 2 is `max_inflight_requests` in the notes'
 * snapshot; newer Triton calls the same field `max_inflight_responses`. Both names are
 * accepted (at most one of them: they share a synthetic oneof) and normalisation keeps
 * `max_inflight_requests`, the name ModelConfig uses.
 */
export const MODEL_ENSEMBLING = messageType('ModelEnsembling', [
  field('step', 1, messageType('ModelEnsembling.Step', [
    field('model_name', 1, 'string'),
    field('model_version', 2, 'int64'),
    mapField('input_map', 3, 'string', 'string'),
    mapField('output_map', 4, 'string', 'string'),
    field('model_namespace', 5, 'string'),
  ]), { repeated: true }),
  field('max_inflight_requests', 2, 'uint32', { oneof: 'field 2 (max_inflight)' }),
  field('max_inflight_responses', 2, 'uint32', { oneof: 'field 2 (max_inflight)' }),
]);

/** `ModelWarmup` (COMPAT-NOTES §3.7). */
export const MODEL_WARMUP = messageType('ModelWarmup', [
  field('name', 1, 'string'),
  field('batch_size', 2, 'uint32'),
  mapField('inputs', 3, 'string', messageType('ModelWarmup.Input', [
    field('data_type', 1, DATA_TYPE_ENUM),
    field('dims', 2, 'int64', { repeated: true }),
    field('zero_data', 3, 'bool', { oneof: 'input_data_type' }),
    field('random_data', 4, 'bool', { oneof: 'input_data_type' }),
    field('input_data_file', 5, 'string', { oneof: 'input_data_type' }),
  ])),
  field('count', 4, 'uint32'),
]);

/** `ModelMetrics` (histogram bucket overrides, COMPAT-NOTES §3.1). */
export const MODEL_METRICS = messageType('ModelMetrics', [
  field('metric_control', 1, messageType('ModelMetrics.MetricControl', [
    field('metric_identifier', 1, messageType('ModelMetrics.MetricControl.MetricIdentifier', [field('family', 1, 'string')])),
    field('histogram_options', 2, messageType('ModelMetrics.MetricControl.HistogramOptions', [
      field('buckets', 1, 'double', { repeated: true }),
    ]), { oneof: 'metric_options' }),
  ]), { repeated: true }),
]);

/** `inference.ModelConfig` (COMPAT-NOTES §3.1), the root of config.pbtxt / config.json. */
export const MODEL_CONFIG: MessageDescriptor = messageType('ModelConfig', [
  field('name', 1, 'string'),
  field('platform', 2, 'string'),
  field('backend', 17, 'string'),
  field('runtime', 25, 'string'),
  field('version_policy', 3, MODEL_VERSION_POLICY),
  field('max_batch_size', 4, 'int32'),
  field('input', 5, MODEL_INPUT, { repeated: true }),
  field('output', 6, MODEL_OUTPUT, { repeated: true }),
  field('batch_input', 20, BATCH_INPUT, { repeated: true }),
  field('batch_output', 21, BATCH_OUTPUT, { repeated: true }),
  field('optimization', 12, MODEL_OPTIMIZATION_POLICY),
  field('dynamic_batching', 11, MODEL_DYNAMIC_BATCHING, { oneof: 'scheduling_choice' }),
  field('sequence_batching', 13, MODEL_SEQUENCE_BATCHING, { oneof: 'scheduling_choice' }),
  field('ensemble_scheduling', 15, MODEL_ENSEMBLING, { oneof: 'scheduling_choice' }),
  field('instance_group', 7, MODEL_INSTANCE_GROUP, { repeated: true }),
  field('default_model_filename', 8, 'string'),
  mapField('cc_model_filenames', 9, 'string', 'string'),
  mapField('metric_tags', 10, 'string', 'string'),
  mapField('parameters', 14, 'string', messageType('ModelParameter', [field('string_value', 1, 'string')])),
  field('model_warmup', 16, MODEL_WARMUP, { repeated: true }),
  field('model_operations', 18, messageType('ModelOperations', [field('op_library_filename', 1, 'string', { repeated: true })])),
  field('model_transaction_policy', 19, messageType('ModelTransactionPolicy', [field('decoupled', 1, 'bool')])),
  field('model_repository_agents', 23, messageType('ModelRepositoryAgents', [
    field('agents', 1, messageType('ModelRepositoryAgents.Agent', [
      field('name', 1, 'string'),
      mapField('parameters', 2, 'string', 'string'),
    ]), { repeated: true }),
  ])),
  field('response_cache', 24, messageType('ModelResponseCache', [field('enable', 1, 'bool')])),
  field('model_metrics', 26, MODEL_METRICS),
]);
