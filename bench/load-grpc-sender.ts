/**
 * The load generator's gRPC client: `inference.GRPCInferenceService/ModelInfer` through
 * @grpc/grpc-js with the request already encoded (the LoadSpec body is a ModelInferRequest)
 * and the answer left as bytes, so the client costs what a gRPC client must (HTTP/2 framing,
 * one channel) and no protobuf decoding is timed on the client side — as the HTTP driver
 * does not parse its answers either.
 */
import { credentials, makeGenericClientConstructor, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { inferenceClientDefinition } from '../node-host/grpc-service-definition.ts';
import { bodySource, type LoadSpec, type Send } from './load-driver.ts';

type Unary = (req: Uint8Array, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res?: Buffer) => void) => unknown;

/** ModelInfer with bytes in and bytes out. */
const RawInferenceClient = makeGenericClientConstructor({
  ModelInfer: { ...inferenceClientDefinition.ModelInfer, responseDeserialize: (b: Buffer) => b },
}, 'GRPCInferenceService');

/** One channel (one HTTP/2 connection) shared by every loop, as a gRPC client application would hold. */
export function grpcSender(spec: LoadSpec): { send: Send; close: () => void } {
  const client = new RawInferenceClient(spec.url, credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1,
  }) as unknown as Client & { ModelInfer: Unary };
  const nextBody = bodySource(spec);
  const md = new Metadata();
  const send: Send = (loop) => new Promise<number>((resolve, reject) => {
    client.ModelInfer(nextBody(loop), md, { deadline: Date.now() + spec.requestTimeoutMs }, (err, res) => (err ? reject(new Error(`gRPC ${err.code}: ${err.details}`)) : resolve(res!.byteLength)));
  });
  return { send, close: () => client.close() };
}
