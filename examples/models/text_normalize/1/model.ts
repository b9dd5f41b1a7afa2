/**
 * text_normalize: TEXT (BYTES) → NORMALIZED (BYTES) and WORDS (INT32), in TypeScript.
 * An example of infermesh's JavaScript backend; see README "JavaScript models and BLS".
 * The type import is erased when Node strips the types, so this file also runs when copied
 * out of the infermesh checkout.
 */
import type { JsModelRequest, JsModelResponse } from '../../../../node-host/js-model-api.ts';

/** Unicode NFKC, lower case, runs of white space collapsed to one space, trimmed. */
export function normalize(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim();
}

/** One response per request, in order (the dynamic batcher may pass several at once). */
export function execute(requests: JsModelRequest[]): JsModelResponse[] {
  return requests.map((request) => {
    const shape = request.input('TEXT')!.shape;
    const normalized = request.text('TEXT').map(normalize);
    const words = Int32Array.from(normalized, (t) => (t === '' ? 0 : t.split(' ').length));
    // Datatypes come from the config; BYTES outputs may be given as strings.
    return { outputs: [{ name: 'NORMALIZED', shape, data: normalized }, { name: 'WORDS', shape, data: words }] };
  });
}
