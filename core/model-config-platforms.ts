/**
 * Triton's platform ↔ backend pairs and default model file names (COMPAT-NOTES §3.1;
 * core `AutoCompleteBackendFields`, `GetBackendType`, `GetBackendTypeFromPlatform`).
 */

/** The ensemble pseudo-platform: no backend, no model file, no instance groups (§3.6). */
export const ENSEMBLE_PLATFORM = 'ensemble';

/** Platform → the backend that serves it, for the platforms Triton knows. */
export const PLATFORM_BACKEND: Readonly<Record<string, string>> = {
  onnxruntime_onnx: 'onnxruntime',
  tensorrt_plan: 'tensorrt',
  tensorflow_graphdef: 'tensorflow',
  tensorflow_savedmodel: 'tensorflow',
  pytorch_libtorch: 'pytorch',
};

/**
 * Backend → the platform Triton fills in when only `backend` is given. TensorFlow has two
 * platforms, so Triton requires its platform; Python and OpenVINO have none.
 */
export const BACKEND_PLATFORM: Readonly<Record<string, string>> = {
  onnxruntime: 'onnxruntime_onnx',
  tensorrt: 'tensorrt_plan',
  pytorch: 'pytorch_libtorch',
};

/** Backends whose platform Triton checks for consistency ("unexpected 'platform' and 'backend' pair"). */
export const KNOWN_BACKENDS: ReadonlySet<string> = new Set(Object.values(PLATFORM_BACKEND));

/** `default_model_filename` when the config gives none, by platform first, then by backend. */
export const DEFAULT_MODEL_FILENAME_BY_PLATFORM: Readonly<Record<string, string>> = {
  tensorflow_graphdef: 'model.graphdef',
  tensorflow_savedmodel: 'model.savedmodel',
};

/** `default_model_filename` per backend (COMPAT-NOTES §3.1). */
export const DEFAULT_MODEL_FILENAME_BY_BACKEND: Readonly<Record<string, string>> = {
  onnxruntime: 'model.onnx',
  tensorrt: 'model.plan',
  pytorch: 'model.pt',
  python: 'model.py',
  openvino: 'model.xml',
  dali: 'model.dali',
};

/** A model file name that tells the backend when neither platform nor backend is given. */
export const BACKEND_BY_MODEL_FILENAME: Readonly<Record<string, string>> = {
  'model.onnx': 'onnxruntime',
  'model.plan': 'tensorrt',
  'model.pt': 'pytorch',
  'model.py': 'python',
  'model.xml': 'openvino',
};

/**
 * Backends whose KIND_CPU instance groups default to 2 instances rather than 1 (core
 * `SetDefaultInstanceCount`, COMPAT-NOTES §3.3: "2 for ONNX Runtime, 1 for other backends";
 * the core also opts TensorFlow in).
 */
export const TWO_CPU_INSTANCE_BACKENDS: ReadonlySet<string> = new Set(['onnxruntime', 'tensorflow']);
