/** Load/unload parameters of the model repository extension, from HTTP JSON and from gRPC. */
import { describe, expect, test } from 'vitest';
import {
  decodeBase64Portable, grpcRepositoryParameters, httpRepositoryParameters, readLoadParameters, readUnloadParameters,
} from '../../protocol/repository-parameters.ts';
import { expectInferError } from '../support/expect-infer-error.ts';

const b64 = (s: string) => btoa(s);

describe('HTTP parameters', () => {
  test('config stays a string; file: values are base64 and become bytes', () => {
    const p = readLoadParameters(httpRepositoryParameters({ config: '{"name":"m"}', 'file:1/model.onnx': b64('\u0000\u0001onnx') }));
    expect(p.configJson).toBe('{"name":"m"}');
    expect([...p.files!.entries()].map(([k, v]) => [k, [...v]])).toEqual([['file:1/model.onnx', [0, 1, 111, 110, 110, 120]]]);
  });

  test('base64 with line breaks or without padding is accepted; anything else is refused', () => {
    const wrapped = `${b64('hello world, hello world')}`.replace(/(.{8})/g, '$1\n');
    expect(new TextDecoder().decode(readLoadParameters(httpRepositoryParameters({ config: '{}', 'file:a': wrapped })).files!.get('file:a'))).toBe('hello world, hello world');
    expect([...readLoadParameters(httpRepositoryParameters({ config: '{}', 'file:a': 'AQI' })).files!.get('file:a')!]).toEqual([1, 2]);
    for (const bad of ['not base64!', 'A', 'AQ==AQ==', '%%%%']) {
      expectInferError(() => httpRepositoryParameters({ 'file:a': bad }), 'INVALID_ARG', "parameter 'file:a' must hold the file's content in base64");
    }
  });

  test('no body or no parameters: nothing asked', () => {
    expect(readLoadParameters(httpRepositoryParameters(undefined))).toEqual({});
    expect(readUnloadParameters(httpRepositoryParameters(undefined))).toEqual({ unloadDependents: false });
  });

  test('wrong shapes and types are refused with a reason', () => {
    expectInferError(() => httpRepositoryParameters([1]), 'INVALID_ARG', "'parameters' must be a JSON object");
    expectInferError(() => httpRepositoryParameters({ config: { name: 'm' } }), 'INVALID_ARG', "parameter 'config' must be a string, a boolean or an integer, got object");
    expectInferError(() => readLoadParameters(httpRepositoryParameters({ config: true })), 'INVALID_ARG', "Config parameter 'config' must have string type for its value");
    expectInferError(() => readLoadParameters(httpRepositoryParameters({ colour: 'red' })), 'INVALID_ARG', "unknown load parameter 'colour'");
    expectInferError(() => readUnloadParameters(httpRepositoryParameters({ unload_dependents: 1 })), 'INVALID_ARG', "Unable to parse 'unload_dependents': expected a boolean, got int64");
    expect(readUnloadParameters(httpRepositoryParameters({ unload_dependents: true, other: 'ignored' }))).toEqual({ unloadDependents: true });
  });
});

describe('gRPC parameters', () => {
  test('string_param config, bytes_param files, bool_param unload_dependents', () => {
    const p = readLoadParameters(grpcRepositoryParameters(new Map([['config', { stringParam: '{}' }], ['file:1/model.onnx', { bytesParam: new Uint8Array([7]) }]])));
    expect(p.configJson).toBe('{}');
    expect([...p.files!.get('file:1/model.onnx')!]).toEqual([7]);
    expect(readUnloadParameters(grpcRepositoryParameters(new Map([['unload_dependents', { boolParam: true }]])))).toEqual({ unloadDependents: true });
  });

  test("Triton's type errors, and a parameter with no value", () => {
    expectInferError(() => readLoadParameters(grpcRepositoryParameters(new Map([['config', { bytesParam: new Uint8Array(1) }]]))), 'INVALID_ARG', "Config parameter 'config' must have string type for its value");
    expectInferError(() => readLoadParameters(grpcRepositoryParameters(new Map([['file:1/m.onnx', { stringParam: 'x' }]]))), 'INVALID_ARG', "File parameter 'file:1/m.onnx' must have bytes type for its value");
    expectInferError(() => grpcRepositoryParameters(new Map([['config', {}]])), 'INVALID_ARG', "parameter 'config' has no value");
  });
});

test('the portable base64 decoder agrees with Buffer', () => {
  const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff);
  const text = Buffer.from(data).toString('base64');
  expect([...decodeBase64Portable(text)]).toEqual([...data]);
});
