// containerd's Tasks.Metrics payloads as converge reads them: cgroup v1 and v2 Metrics
// messages (encoded here with the same field numbers containerd's cgroups library uses),
// CPU percent between two readings, and the reader that serves scrapes from one call.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeAny } from '../../src/containerd/proto.js';
import { cpuPercent, statsOf } from '../../src/containerd/stats.js';
import { StatsReader } from '../../src/containerd/statsreader.js';
import type { TaskMetric, TasksService } from '../../src/containerd/tasks.js';

const AT = new Date('2026-01-02T03:04:05Z');

test('statsOf: cgroup v1 (CPU in ns, usage less inactive file, limit)', () => {
  const data = encodeAny('io.containerd.cgroups.v1.Metrics', {
    cpu: { usage: { total: 2_500_000_000, kernel: 1, user: 2 } },
    memory: { cache: 7, rss: 8, total_inactive_file: 1_000, usage: { usage: 11_000, limit: 64 * 1024 * 1024 } },
    memory_oom_control: { oom_kill: 2 },
  });
  assert.deepEqual(statsOf({ id: 'default.web', at: AT, data }), {
    id: 'default.web', at: AT.getTime(), cgroup: 1, cpuSeconds: 2.5, memoryBytes: 10_000, memoryLimitBytes: 64 * 1024 * 1024, oomKills: 2,
  });
});

test('statsOf: cgroup v2 (CPU in µs, usage less inactive file, "max" is no limit)', () => {
  const data = encodeAny('io.containerd.cgroups.v2.Metrics', {
    cpu: { usage_usec: 1_500_000, user_usec: 1, system_usec: 2 },
    memory: { anon: 1, file: 2, inactive_file: 500, usage: 4_500, usage_limit: '18446744073709551615' },
    memory_events: { oom: 1, oom_kill: 1 },
  });
  assert.deepEqual(statsOf({ id: 'default.db', at: AT, data }), {
    id: 'default.db', at: AT.getTime(), cgroup: 2, cpuSeconds: 1.5, memoryBytes: 4_000, memoryLimitBytes: null, oomKills: 1,
  });
});

test('statsOf: a payload of another type is left out; an empty one reads as zero', () => {
  assert.equal(statsOf({ id: 'x', data: encodeAny('containerd.events.TaskOOM', { container_id: 'x' }) }), undefined);
  assert.equal(statsOf({ id: 'x', data: null }), undefined);
  const empty = statsOf({ id: 'x', at: AT, data: encodeAny('io.containerd.cgroups.v1.Metrics', {}) });
  assert.deepEqual(empty, { id: 'x', at: AT.getTime(), cgroup: 1, cpuSeconds: 0, memoryBytes: 0, memoryLimitBytes: null, oomKills: 0 });
});

test('cpuPercent: CPU seconds over wall seconds, in percent of one CPU; null without a usable earlier reading', () => {
  const base = { id: 'a', cgroup: 1 as const, memoryBytes: 0, memoryLimitBytes: null, oomKills: 0 };
  const before = { ...base, at: 1_000, cpuSeconds: 10 };
  assert.equal(cpuPercent(before, { ...base, at: 3_000, cpuSeconds: 13 }), 150);
  assert.equal(cpuPercent(undefined, before), null);
  assert.equal(cpuPercent(before, { ...base, at: 1_000, cpuSeconds: 11 }), null);
  assert.equal(cpuPercent(before, { ...base, at: 2_000, cpuSeconds: 1 }), null); // a new task: its counter began again
  assert.equal(cpuPercent(before, { ...base, id: 'b', at: 2_000, cpuSeconds: 11 }), null);
});

test('StatsReader: one call serves every scrape until it is maxAge old, and concurrent scrapes share one call', async () => {
  let calls = 0;
  let release: (() => void) | undefined;
  const metric: TaskMetric = { id: 'default.web', at: AT, data: encodeAny('io.containerd.cgroups.v2.Metrics', { cpu: { usage_usec: 1_000_000 } }) };
  const tasks = {
    metrics: async () => {
      calls++;
      await new Promise<void>((resolve) => (release = resolve));
      return [metric];
    },
  } as unknown as TasksService;
  let now = 0;
  const reader = new StatsReader(tasks, 5_000, 1_000, () => now);
  const scrapes = [reader.read(), reader.read(), reader.read()];
  release!();
  const results = await Promise.all(scrapes);
  assert.equal(calls, 1);
  assert.deepEqual(results.map((r) => r.map((s) => s.cpuSeconds)), [[1], [1], [1]]);
  now = 4_999;
  await reader.read();
  assert.equal(calls, 1);
  now = 5_000;
  const again = reader.read();
  release!();
  await again;
  assert.equal(calls, 2);
});

test('StatsReader: a failed call is not cached', async () => {
  let calls = 0;
  const tasks = { metrics: async () => (++calls === 1 ? Promise.reject(new Error('down')) : []) } as unknown as TasksService;
  const reader = new StatsReader(tasks, 5_000, 1_000, () => 0);
  await assert.rejects(reader.read(), /down/);
  assert.deepEqual(await reader.read(), []);
  assert.equal(calls, 2);
});
