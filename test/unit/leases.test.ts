// Which of converge's containerd leases are leftovers to delete at a (re)connect.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LABEL_GC_EXPIRE, staleLeases, type Lease } from '../../src/containerd/leases.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const lease = (id: string, expiresInMs = 60_000): Lease => ({ id, labels: { [LABEL_GC_EXPIRE]: new Date(NOW + expiresInMs).toISOString() } });

test('an operation lease nobody holds is stale; one in use is not', () => {
  const leases = [lease('converge-1-aa'), lease('converge-2-bb')];
  assert.deepEqual(staleLeases(leases, new Set(['converge-2-bb']), NOW).map((l) => l.id), ['converge-1-aa']);
});

test("a pull's lease stays until it expires, so a retry resumes its blobs", () => {
  const leases = [lease('converge-pull-0123'), lease('converge-pull-4567', -1)];
  assert.deepEqual(staleLeases(leases, new Set(), NOW).map((l) => l.id), ['converge-pull-4567']);
});

test('leases that are not converge\'s are never touched, expired or not', () => {
  assert.deepEqual(staleLeases([lease('ctr-lease', -1), lease('other')], new Set(), NOW), []);
});
