// A task's CPU and memory from containerd's Tasks.Metrics, whichever cgroup version the
// host runs: the Any is io.containerd.cgroups.v1.Metrics or io.containerd.cgroups.v2.Metrics
// (containerd/cgroups' stats protos), decoded here into one plain shape.

import { decodeAny } from './proto.js';
import type { TaskMetric } from './tasks.js';

export interface TaskStats {
  /** The container ID. */
  id: string;
  /** When containerd read the cgroup (epoch ms). */
  at: number;
  cgroup: 1 | 2;
  /** CPU time used since the task started, in seconds. */
  cpuSeconds: number;
  /**
   * Memory in use as `docker stats` counts it: the cgroup's usage less its inactive file
   * cache (pages the kernel drops first), in bytes.
   */
  memoryBytes: number;
  /** The cgroup's memory limit in bytes; null when it has none. */
  memoryLimitBytes: number | null;
  /** Processes of the cgroup killed by the OOM killer, where the kernel counts them. */
  oomKills: number;
}

interface V1Metrics {
  cpu: { usage: { total: number } | null } | null;
  memory: { total_inactive_file: number; usage: { usage: number; limit: number } | null } | null;
  memory_oom_control: { oom_kill: number } | null;
}

interface V2Metrics {
  cpu: { usage_usec: number } | null;
  memory: { inactive_file: number; usage: number; usage_limit: number } | null;
  memory_events: { oom_kill: number } | null;
}

/** A limit this large is "no limit" (cgroup v1 writes PAGE_COUNTER_MAX, v2 reads "max" as 2^64-1). */
const UNLIMITED = 2 ** 62;

const limitOf = (n: number | undefined): number | null => (n && n > 0 && n < UNLIMITED ? n : null);

/** One metric as TaskStats; undefined for a payload of another type (another runtime's). */
export function statsOf(m: TaskMetric, now = Date.now()): TaskStats | undefined {
  const at = m.at?.getTime() ?? now;
  const v1 = decodeAny<V1Metrics>(m.data);
  if (v1?.type === 'io.containerd.cgroups.v1.Metrics') {
    const { cpu, memory, memory_oom_control: oom } = v1.value;
    const usage = memory?.usage?.usage ?? 0;
    return {
      id: m.id,
      at,
      cgroup: 1,
      cpuSeconds: (cpu?.usage?.total ?? 0) / 1e9,
      memoryBytes: Math.max(0, usage - (memory?.total_inactive_file ?? 0)),
      memoryLimitBytes: limitOf(memory?.usage?.limit),
      oomKills: oom?.oom_kill ?? 0,
    };
  }
  if (v1?.type === 'io.containerd.cgroups.v2.Metrics') {
    const { cpu, memory, memory_events: events } = v1.value as unknown as V2Metrics;
    return {
      id: m.id,
      at,
      cgroup: 2,
      cpuSeconds: (cpu?.usage_usec ?? 0) / 1e6,
      memoryBytes: Math.max(0, (memory?.usage ?? 0) - (memory?.inactive_file ?? 0)),
      memoryLimitBytes: limitOf(memory?.usage_limit),
      oomKills: events?.oom_kill ?? 0,
    };
  }
  return undefined;
}

/**
 * CPU use between two readings of one task, in percent of one CPU (as `docker stats`
 * shows it: 200% is two CPUs busy). Null without an earlier reading of the same task.
 */
export function cpuPercent(before: TaskStats | undefined, after: TaskStats): number | null {
  if (!before || before.id !== after.id || after.at <= before.at || after.cpuSeconds < before.cpuSeconds) return null;
  return ((after.cpuSeconds - before.cpuSeconds) / ((after.at - before.at) / 1000)) * 100;
}
