/** selectVersions: Triton's version policies (COMPAT-NOTES §3.2) over the version folders present. */
import { expect, test } from 'vitest';
import { selectVersions } from '../../core/model-repository-scan.ts';
import { parseModelConfigText } from '../../core/model-config-parse.ts';

const present = [1, 2, 3, 10];
const policyOf = (text: string) => parseModelConfigText(`version_policy: ${text}`, 'config.pbtxt').version_policy;

test('default (no policy) is latest 1: the numerically greatest version, not the last in text order', () => {
  expect(selectVersions(present, undefined)).toEqual([10]);
  expect(selectVersions([], undefined)).toEqual([]);
});

test.each([
  ['{ latest: { num_versions: 2 } }', [3, 10]],
  ['{ latest: { num_versions: 9 } }', [1, 2, 3, 10]],
  ['{ latest: {} }', [10]],
  ['{ all: {} }', [1, 2, 3, 10]],
  ['{ specific: { versions: [1, 3] } }', [1, 3]],
  ['{ specific: { versions: [3, 1, 3] } }', [1, 3]],
  ['{ specific: { versions: [4] } }', []],
])('%s selects %j of 1, 2, 3, 10', (text, want) => {
  expect(selectVersions(present, policyOf(text))).toEqual(want);
});
