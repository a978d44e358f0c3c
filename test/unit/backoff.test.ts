import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, restartAt, FailureRateLimiter } from '../../src/backoff.js';

const opts = { initialMs: 100, maxMs: 5000, resetAfterMs: 10_000 };

test('backoffDelay doubles from the start up to the cap', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 100, 5000].map((n) => backoffDelay(n, opts)), [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
});

test('restartAt: no memory (adopted task) restarts after the first delay', () => {
  assert.deepEqual(restartAt(undefined, 1000, opts), { at: 1100, consecutive: 0 });
});

test('restartAt: a quick exit continues the loop', () => {
  assert.deepEqual(restartAt({ consecutive: 3, startedAt: 0 }, 500, opts), { at: 1300, consecutive: 3 });
});

test('restartAt: a task that ran past resetAfter starts a fresh loop', () => {
  assert.deepEqual(restartAt({ consecutive: 9, startedAt: 0 }, 10_000, opts), { at: 10_100, consecutive: 0 });
});

test('FailureRateLimiter: per key, exponential, forget resets', () => {
  const l = new FailureRateLimiter(10, 50);
  assert.deepEqual([l.when('a'), l.when('a'), l.when('b'), l.when('a'), l.when('a')], [10, 20, 10, 40, 50]);
  assert.equal(l.retries('a'), 4);
  l.forget('a');
  assert.equal(l.when('a'), 10);
});
