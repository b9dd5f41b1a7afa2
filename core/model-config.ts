/**
 * The typed Triton `ModelConfig` (COMPAT-NOTES §3), field names exactly as protobuf's JSON
 * form with `preserve_proto_field_names` (snake_case), so `GET /v2/models/m/config` can return
 * a normalised config as is. 64-bit integers are JS numbers, as Triton's ModelConfigToJson does.
 * Enums are their names as strings.
 */
import type { ConfigDataType } from '../protocol/datatypes.ts';

export interface ModelTensorReshape { shape: number[] }

export interface ModelInput {
  name: string;
  data_type: ConfigDataType;
  format: 'FORMAT_NONE' | 'FORMAT_NHWC' | 'FORMAT_NCHW';
  dims: number[];
  reshape?: ModelTensorReshape;
  is_shape_tensor: boolean;
  allow_ragged_batch: boolean;
  optional: boolean;
  is_non_linear_format_io: boolean;
}

export interface ModelOutput {
  name: string;
  data_type: ConfigDataType;
  dims: number[];
  reshape?: ModelTensorReshape;
  label_filename: string;
  is_shape_tensor: boolean;
  is_non_linear_format_io: boolean;
}

export interface ModelVersionPolicy {
  latest?: { num_versions: number };
  all?: Record<string, never>;
  specific?: { versions: number[] };
}

export type InstanceGroupKind = 'KIND_AUTO' | 'KIND_GPU' | 'KIND_CPU' | 'KIND_MODEL';

export interface ModelRateLimiter {
  resources: { name: string; global: boolean; count: number }[];
  priority: number;
}

export interface ModelInstanceGroup {
  name: string;
  kind: InstanceGroupKind;
  count: number;
  gpus: number[];
  /** Normalised configs always carry it (`[]` unless given), as Triton prints it (§3.3). */
  secondary_devices?: { kind: 'KIND_NVDLA'; device_id: number }[];
  rate_limiter?: ModelRateLimiter;
  profile: string[];
  passive: boolean;
  host_policy: string;
}

export type TimeoutAction = 'REJECT' | 'DELAY';

export interface ModelQueuePolicy {
  timeout_action: TimeoutAction;
  default_timeout_microseconds: number;
  allow_timeout_override: boolean;
  max_queue_size: number;
}

export interface ModelDynamicBatching {
  preferred_batch_size: number[];
  max_queue_delay_microseconds: number;
  preserve_ordering: boolean;
  priority_levels: number;
  default_priority_level: number;
  default_queue_policy?: ModelQueuePolicy;
  /** Keyed by priority level (1 = highest) as a decimal string, as protobuf JSON maps are. */
  priority_queue_policy: Record<string, ModelQueuePolicy>;
}

export interface ModelSequenceBatchingControl {
  kind: 'CONTROL_SEQUENCE_START' | 'CONTROL_SEQUENCE_READY' | 'CONTROL_SEQUENCE_END' | 'CONTROL_SEQUENCE_CORRID';
  int32_false_true: number[];
  fp32_false_true: number[];
  bool_false_true: boolean[];
  data_type: ConfigDataType;
}

export interface ModelSequenceBatching {
  direct?: { max_queue_delay_microseconds: number; minimum_slot_utilization: number };
  oldest?: { max_candidate_sequences: number; preferred_batch_size: number[]; max_queue_delay_microseconds: number; preserve_ordering: boolean };
  max_sequence_idle_microseconds: number;
  control_input: { name: string; control: ModelSequenceBatchingControl[] }[];
  state: {
    input_name: string; output_name: string; data_type: ConfigDataType; dims: number[];
    initial_state: { data_type: ConfigDataType; dims: number[]; zero_data?: boolean; data_file?: string; name: string }[];
    use_same_buffer_for_input_output: boolean; use_growable_memory: boolean;
  }[];
  iterative_sequence: boolean;
}

export interface ModelEnsembling {
  step: { model_name: string; model_version: number; input_map: Record<string, string>; output_map: Record<string, string>; model_namespace: string }[];
  max_inflight_requests?: number;
}

export interface ModelWarmupInput {
  data_type: ConfigDataType;
  dims: number[];
  zero_data?: boolean;
  random_data?: boolean;
  input_data_file?: string;
}

export interface ModelWarmup {
  name: string;
  batch_size: number;
  inputs: Record<string, ModelWarmupInput>;
  count: number;
}

/** A complete, normalised model configuration. */
export interface ModelConfig {
  name: string;
  platform: string;
  backend: string;
  runtime: string;
  version_policy: ModelVersionPolicy;
  max_batch_size: number;
  input: ModelInput[];
  output: ModelOutput[];
  batch_input: unknown[];
  batch_output: unknown[];
  optimization?: Record<string, unknown>;
  dynamic_batching?: ModelDynamicBatching;
  sequence_batching?: ModelSequenceBatching;
  ensemble_scheduling?: ModelEnsembling;
  instance_group: ModelInstanceGroup[];
  default_model_filename: string;
  cc_model_filenames: Record<string, string>;
  metric_tags: Record<string, string>;
  parameters: Record<string, { string_value: string }>;
  model_warmup: ModelWarmup[];
  model_operations?: { op_library_filename: string[] };
  model_transaction_policy?: { decoupled: boolean };
  model_repository_agents?: { agents: { name: string; parameters: Record<string, string> }[] };
  response_cache?: { enable: boolean };
  model_metrics?: Record<string, unknown>;
}

/** What a backend reports about a model file's own inputs and outputs (used for auto-complete). */
export interface TensorSignature {
  name: string;
  datatype: import('../protocol/datatypes.ts').DataType;
  /** Full shape as the model declares it; -1 for a dynamic dimension. */
  shape: number[];
}

/** A model file's input/output signature as its runtime reads it. */
export interface ModelSignature {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
}
