import { expect, test } from 'vitest';
import { DEFAULT_THROUGHPUT_PRIOR, withThroughputPrior } from '../../mesh/mesh-service.ts';
import type { RouteCandidate } from '../../mesh/router.ts';

const c = (peerId: string, throughput: number): RouteCandidate => ({ peerId, local: false, queued: 0, throughput, capacity: throughput, rttMs: 1, reportAgeMs: 0 });

test('unmeasured hosts get the median measured throughput, so they are drawn and measured', () => {
  const out = withThroughputPrior([c('a', 100), c('b', 0), c('c', 300), c('d', 200)]);
  expect(out.map((x) => [x.peerId, x.throughput, x.capacity])).toEqual([['a', 100, 100], ['b', 200, 200], ['c', 300, 300], ['d', 200, 200]]);
});

test('with nothing measured every host gets the default prior; measured lists pass unchanged', () => {
  expect(withThroughputPrior([c('a', 0), c('b', 0)]).map((x) => x.throughput)).toEqual([DEFAULT_THROUGHPUT_PRIOR, DEFAULT_THROUGHPUT_PRIOR]);
  const measured = [c('a', 5), c('b', 7)];
  expect(withThroughputPrior(measured)).toBe(measured);
});
