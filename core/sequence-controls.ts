/**
 * The control tensors the sequence batcher feeds a stateful model (COMPAT-NOTES §3.5,
 * Triton docs/user_guide/architecture.md "Control Inputs"): START, END, READY and CORRID, one
 * element per batch row.
 *
 * Shape, as Triton's sequence batcher builds them (`SequenceBatchScheduler::
 * CreateBooleanControlTensors`; the qa models declare `batch_dim + [1]`): `[1]` per request,
 * so `[rows, 1]` for a batching model and `[1]` for a model with `max_batch_size: 0`.
 * START/END/READY hold the configured false/true value of their `int32_false_true`,
 * `fp32_false_true` or `bool_false_true` pair; CORRID holds the sequence id in its
 * `data_type` (32-bit types truncate, as in Triton; TYPE_STRING holds the id's text).
 */
import { configTypeToDataType } from '../protocol/datatypes.ts';
import type { DataType } from '../protocol/datatypes.ts';
import { invalidArg } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';
import type { ModelConfig, ModelSequenceBatchingControl } from './model-config.ts';
import { formatSequenceId, sequenceIdAsUint64 } from './sequence-params.ts';

/** A START/END/READY control: its tensor and the values that mean false and true. */
export interface BooleanControl {
  name: string;
  datatype: 'INT32' | 'FP32' | 'BOOL';
  falseValue: number;
  trueValue: number;
}

/** The CORRID control: its tensor and the datatype the id is written in. */
export interface CorridControl {
  name: string;
  datatype: 'UINT64' | 'INT64' | 'UINT32' | 'INT32' | 'BYTES';
}

/** The controls a model's config asks for (any may be absent). */
export interface SequenceControls {
  start?: BooleanControl;
  end?: BooleanControl;
  ready?: BooleanControl;
  corrid?: CorridControl;
}

/** What one batch row tells the model. `id` undefined: a padding row (READY false, CORRID 0). */
export interface ControlRow {
  start: boolean;
  end: boolean;
  id: bigint | string | undefined;
}

function booleanControl(name: string, c: ModelSequenceBatchingControl): BooleanControl {
  if (c.int32_false_true.length === 2) return { name, datatype: 'INT32', falseValue: c.int32_false_true[0], trueValue: c.int32_false_true[1] };
  if (c.fp32_false_true.length === 2) return { name, datatype: 'FP32', falseValue: c.fp32_false_true[0], trueValue: c.fp32_false_true[1] };
  return { name, datatype: 'BOOL', falseValue: c.bool_false_true[0] ? 1 : 0, trueValue: c.bool_false_true[1] ? 1 : 0 };
}

/** Reads the control inputs of a validated config (model-config-validate-schedulers.ts checked them). */
export function sequenceControlsOf(config: ModelConfig): SequenceControls {
  const out: SequenceControls = {};
  for (const ci of config.sequence_batching?.control_input ?? []) {
    for (const c of ci.control) {
      switch (c.kind) {
        case 'CONTROL_SEQUENCE_START': out.start = booleanControl(ci.name, c); break;
        case 'CONTROL_SEQUENCE_END': out.end = booleanControl(ci.name, c); break;
        case 'CONTROL_SEQUENCE_READY': out.ready = booleanControl(ci.name, c); break;
        case 'CONTROL_SEQUENCE_CORRID': out.corrid = { name: ci.name, datatype: configTypeToDataType(c.data_type) as CorridControl['datatype'] }; break;
      }
    }
  }
  return out;
}

/**
 * Throws INVALID_ARG when the model's CORRID control cannot hold `id` (a string id for a
 * numeric CORRID), so the request fails when it arrives rather than when its batch runs.
 */
export function checkCorrid(controls: SequenceControls, id: bigint | string, model: string): void {
  const c = controls.corrid;
  if (c === undefined || c.datatype === 'BYTES' || sequenceIdAsUint64(id) !== undefined) return;
  throw invalidArg(`sequence id '${formatSequenceId(id)}' is a string, but model '${model}' takes its correlation id `
    + `in control '${c.name}' of type ${c.datatype}; send a numeric sequence_id for this model`);
}

function booleanTensor(c: BooleanControl, rows: readonly ControlRow[], pick: (r: ControlRow) => boolean, shape: number[]): Tensor {
  const data = c.datatype === 'FP32' ? new Float32Array(rows.length) : c.datatype === 'INT32' ? new Int32Array(rows.length) : new Uint8Array(rows.length);
  for (let i = 0; i < rows.length; i++) data[i] = pick(rows[i]) ? c.trueValue : c.falseValue;
  return { name: c.name, datatype: c.datatype as DataType, shape, data };
}

function corridTensor(c: CorridControl, rows: readonly ControlRow[], shape: number[]): Tensor {
  const n = rows.length;
  const u64 = (r: ControlRow): bigint => (r.id === undefined ? 0n : sequenceIdAsUint64(r.id) ?? 0n);
  switch (c.datatype) {
    case 'BYTES': {
      const enc = new TextEncoder();
      return { name: c.name, datatype: 'BYTES', shape, data: rows.map((r) => enc.encode(r.id === undefined ? '' : formatSequenceId(r.id))) };
    }
    case 'UINT64': return { name: c.name, datatype: 'UINT64', shape, data: BigUint64Array.from(rows, u64) };
    case 'INT64': return { name: c.name, datatype: 'INT64', shape, data: BigInt64Array.from(rows, (r) => BigInt.asIntN(64, u64(r))) };
    case 'UINT32': return { name: c.name, datatype: 'UINT32', shape, data: Uint32Array.from(rows, (r) => Number(BigInt.asUintN(32, u64(r)))) };
    case 'INT32': return { name: c.name, datatype: 'INT32', shape, data: Int32Array.from(rows, (r) => Number(BigInt.asIntN(32, u64(r)))) };
  }
  throw invalidArg(`control '${c.name}': unsupported CORRID datatype ${String(c.datatype)} for ${n} row(s)`);
}

/**
 * The control tensors for one execution, one element per row (see the file comment for the
 * shape). Padding rows (`id` undefined) are not READY and carry CORRID 0.
 */
export function controlTensors(controls: SequenceControls, rows: readonly ControlRow[], batching: boolean): Tensor[] {
  const shape = () => (batching ? [rows.length, 1] : [1]);
  const out: Tensor[] = [];
  if (controls.start) out.push(booleanTensor(controls.start, rows, (r) => r.id !== undefined && r.start, shape()));
  if (controls.end) out.push(booleanTensor(controls.end, rows, (r) => r.id !== undefined && r.end, shape()));
  if (controls.ready) out.push(booleanTensor(controls.ready, rows, (r) => r.id !== undefined, shape()));
  if (controls.corrid) out.push(corridTensor(controls.corrid, rows, shape()));
  return out;
}
