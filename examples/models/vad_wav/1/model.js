/**
 * vad_wav: WAV (BYTES) → PROBABILITIES (FP32 per 32 ms frame) and SEGMENTS (BYTES, JSON).
 * An example of infermesh's JavaScript backend with BLS; see README "JavaScript models and
 * BLS". The ONNX model (silero_vad) is called through `infer`, which reaches it on this host
 * or on any peer of the mesh.
 */

/** Samples per frame silero_vad takes, by sample rate (32 ms). */
const FRAME_SAMPLES = { 16000: 512, 8000: 256 };

/** Longest file accepted: each frame is one BLS call, so length bounds the work per request. */
const MAX_SECONDS = 600;

/** Silero's hysteresis: speech ends when the probability drops this far below the threshold. */
const END_MARGIN = 0.15;

let threshold = 0.5;
let vadModel = 'silero_vad';

export function initialize(args) {
  const p = args.model_config.parameters ?? {};
  threshold = Number(p.threshold?.string_value ?? threshold);
  vadModel = p.vad_model?.string_value ?? vadModel;
  if (!(threshold > 0 && threshold < 1)) throw new Error(`parameter 'threshold' must be between 0 and 1, got '${p.threshold?.string_value}'`);
  args.log.info('vad_wav ready', { threshold, vad_model: vadModel });
}

/** One response per request; a file that cannot be read fails its own request only. */
export async function execute(requests, { infer }) {
  const responses = [];
  for (const request of requests) {
    try {
      responses.push(await detect(request, infer));
    } catch (e) {
      responses.push({ error: e });
    }
  }
  return responses;
}

async function detect(request, infer) {
  const wav = request.input('WAV').data[0];
  const { sampleRate, samples } = decodeWav(wav);
  const frame = FRAME_SAMPLES[sampleRate];
  const probabilities = new Float32Array(Math.floor(samples.length / frame));
  let h = new Float32Array(2 * 64);
  let c = new Float32Array(2 * 64);
  for (let i = 0; i < probabilities.length; i++) {
    const answer = await infer({
      model_name: vadModel,
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [1, frame], data: samples.subarray(i * frame, (i + 1) * frame) },
        { name: 'sr', datatype: 'INT64', shape: [1], data: [BigInt(sampleRate)] },
        { name: 'h', datatype: 'FP32', shape: [2, 1, 64], data: h },
        { name: 'c', datatype: 'FP32', shape: [2, 1, 64], data: c },
      ],
      requested_output_names: ['output', 'hn', 'cn'],
      // A client that goes away cancels the remaining frames.
      signal: request.signal,
    });
    probabilities[i] = answer.output('output').data[0];
    h = answer.output('hn').data;
    c = answer.output('cn').data;
  }
  const segments = toSegments(probabilities, frame / sampleRate);
  return {
    outputs: [
      { name: 'PROBABILITIES', shape: [probabilities.length], data: probabilities },
      { name: 'SEGMENTS', shape: [1], data: [JSON.stringify(segments)] },
    ],
  };
}

/** Runs of frames from one at or above the threshold to one below threshold − END_MARGIN. */
export function toSegments(probabilities, frameSeconds) {
  const segments = [];
  let start = -1;
  for (let i = 0; i < probabilities.length; i++) {
    const p = probabilities[i];
    if (start < 0 && p >= threshold) start = i;
    else if (start >= 0 && p < threshold - END_MARGIN) {
      segments.push({ start: round(start * frameSeconds), end: round(i * frameSeconds) });
      start = -1;
    }
  }
  if (start >= 0) segments.push({ start: round(start * frameSeconds), end: round(probabilities.length * frameSeconds) });
  return segments;
}

const round = (s) => Math.round(s * 1000) / 1000;

/** An error the client caused: INVALID_ARG (HTTP 400) instead of INTERNAL. */
function badWav(message) {
  return Object.assign(new Error(`WAV: ${message}`), { code: 'INVALID_ARG' });
}

/** RIFF/WAVE → mono float samples in [-1, 1]. PCM 16-bit and IEEE float 32-bit. */
export function decodeWav(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at) => String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
  if (bytes.byteLength < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw badWav('not a RIFF/WAVE file');
  let fmt;
  let data;
  for (let at = 12; at + 8 <= bytes.byteLength;) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (body + size > bytes.byteLength && id !== 'data') throw badWav(`chunk '${id}' runs past the end of the file`);
    if (id === 'fmt ') {
      if (size < 16) throw badWav('fmt chunk is too short');
      let format = view.getUint16(body, true);
      // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
      if (format === 0xfffe && size >= 40) format = view.getUint16(body + 24, true);
      fmt = { format, channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true), bits: view.getUint16(body + 14, true) };
    } else if (id === 'data') {
      // Streaming writers leave the size at 0 or 0xFFFFFFFF: take what is there.
      data = bytes.subarray(body, Math.min(bytes.byteLength, body + size || bytes.byteLength));
      break;
    }
    at = body + size + (size & 1);
  }
  if (!fmt) throw badWav('no fmt chunk');
  if (!data) throw badWav('no data chunk');
  if (!FRAME_SAMPLES[fmt.sampleRate]) throw badWav(`sample rate ${fmt.sampleRate} Hz; resample to 16000 or 8000 Hz`);
  const pcm16 = fmt.format === 1 && fmt.bits === 16;
  const float32 = fmt.format === 3 && fmt.bits === 32;
  if (!pcm16 && !float32) throw badWav(`format ${fmt.format} with ${fmt.bits} bits per sample; use 16-bit PCM or 32-bit float`);
  if (fmt.channels < 1) throw badWav('no channels');
  const width = (fmt.bits / 8) * fmt.channels;
  const count = Math.floor(data.byteLength / width);
  if (count / fmt.sampleRate > MAX_SECONDS) throw badWav(`${Math.round(count / fmt.sampleRate)} s long; at most ${MAX_SECONDS} s per request`);
  const samples = new Float32Array(count);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let ch = 0; ch < fmt.channels; ch++) {
      const at = i * width + ch * (fmt.bits / 8);
      sum += pcm16 ? dv.getInt16(at, true) / 32768 : dv.getFloat32(at, true);
    }
    samples[i] = sum / fmt.channels;
  }
  return { sampleRate: fmt.sampleRate, samples };
}
