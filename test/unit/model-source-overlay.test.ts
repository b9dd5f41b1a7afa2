/** The in-memory model folder of file overrides, and Triton's checks on override names. */
import { describe, expect, test } from 'vitest';
import { normalizeFileOverrides, OverlayModelSource, validateModelName } from '../../core/model-source-overlay.ts';
import { listVersions, resolveModelFile } from '../../core/model-repository-scan.ts';
import { expectInferError } from '../support/expect-infer-error.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('normalizeFileOverrides', () => {
  test('resolves . and .. inside the model folder and drops the prefix', () => {
    const files = normalizeFileOverrides([
      ['file:1/model.onnx', bytes('a')],
      ['file:./2//x/../model.onnx', bytes('b')],
      ['file:labels.txt', bytes('c')],
    ]);
    expect([...files.keys()]).toEqual(['1/model.onnx', '2/model.onnx', 'labels.txt']);
  });

  test.each([
    ['file:../model.onnx'], ['file:1/../../x'], ['file:/etc/passwd'], ['file:'], ['file:1\\..\\..\\x'], ['file:.'],
  ])('refuses %s, which does not name a file inside the model folder', (key) => {
    expectInferError(() => normalizeFileOverrides([[key, bytes('x')]]), 'INVALID_ARG', `Invalid file parameter '${key}'`, 'must stay within model directory');
  });

  test('refuses a path used both as a file and as a folder', () => {
    expectInferError(() => normalizeFileOverrides([['file:1', bytes('x')], ['file:1/model.onnx', bytes('y')]]), 'INVALID_ARG', 'directory has been created as a file');
  });
});

describe('OverlayModelSource', () => {
  const src = new OverlayModelSource('m', normalizeFileOverrides([
    ['file:1/model.onnx', bytes('one')],
    ['file:2/model.onnx/model.onnx', bytes('two')],
    ['file:2/model.onnx/weights.bin', bytes('w')],
    ['file:labels.txt', bytes('a\nb')],
  ]), 1234);

  test('lists the model folder, versions and nested folders like a directory on disk', async () => {
    expect(await src.list('')).toEqual([{ name: 'm', kind: 'directory' }]);
    expect(await src.list('m')).toEqual([{ name: '1', kind: 'directory' }, { name: '2', kind: 'directory' }, { name: 'labels.txt', kind: 'file' }]);
    expect(await listVersions({ name: 'm', source: src })).toEqual([1, 2]);
    // ONNX external-data layout: model.onnx is a folder holding model.onnx.
    expect(await resolveModelFile({ name: 'm', source: src }, 2, 'model.onnx')).toBe('m/2/model.onnx/model.onnx');
    expect(new TextDecoder().decode(await src.read('m/2/model.onnx/model.onnx'))).toBe('two');
  });

  test('exists, stat, and NOT_FOUND for what is not there', async () => {
    expect(await src.exists('m/1/model.onnx')).toBe(true);
    expect(await src.exists('m/1')).toBe(true);
    expect(await src.exists('m/3')).toBe(false);
    expect(await src.stat!('m/labels.txt')).toEqual({ kind: 'file', size: 3, mtimeMs: 1234 });
    expect(await src.stat!('m/2')).toEqual({ kind: 'directory', size: 0, mtimeMs: 1234 });
    expect(await src.stat!('m/nope')).toBeUndefined();
    await expect(src.read('m/1/other.onnx')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(src.list('m/3')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

test("validateModelName: Triton's checks on a model name that becomes a folder name", () => {
  expectInferError(() => validateModelName(''), 'INVALID_ARG', 'model name must not be empty');
  expectInferError(() => validateModelName('  '), 'INVALID_ARG', 'only whitespace');
  expectInferError(() => validateModelName('a/b'), 'INVALID_ARG', "invalid model name 'a/b', model name must not contain path traversal characters");
  expectInferError(() => validateModelName('..'), 'INVALID_ARG', 'path traversal');
  expect(() => validateModelName('resnet50_v1.5')).not.toThrow();
});
