/**
 * Reading an HTTP request body with a size limit and Triton's request decompression
 * (`Content-Encoding: gzip | deflate | identity`, COMPAT-NOTES §1.8).
 */
import type { IncomingMessage } from 'node:http';
import { gunzip, inflate } from 'node:zlib';
import { promisify } from 'node:util';
import { InferError, invalidArg } from '../protocol/errors.ts';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

/** Reads the whole body; rejects with INVALID_ARG past `maxBytes` (compressed or not). */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    req.resume();
    throw tooLarge(Number(declared), maxBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      req.resume();
      throw tooLarge(size, maxBytes);
    }
    chunks.push(chunk);
  }
  const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  if (encoding === 'identity' || encoding === '') return body;
  const options = { maxOutputLength: maxBytes };
  try {
    if (encoding === 'gzip') return await gunzipAsync(body, options);
    if (encoding === 'deflate') return await inflateAsync(body, options);
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(maxBytes + 1, maxBytes);
    throw invalidArg(`failed to decompress the request body (${encoding}): ${(e as Error).message}`);
  }
  throw new InferError('UNSUPPORTED', `unsupported Content-Encoding '${encoding}': use gzip, deflate or identity`);
}

function tooLarge(size: number, max: number): InferError {
  return invalidArg(`request body of ${size} bytes exceeds the limit of ${max} bytes; start the server with a larger --http-max-body-bytes`);
}
