// `converge stats [NAME...] [--no-stream] [-o json]`: CPU and memory of each running task
// of the namespace, from containerd's Tasks.Metrics (cgroup v1 or v2). CPU % is over the
// last second, in percent of one CPU as docker shows it, so the first figures come after
// two readings a second apart.

import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { COMMON } from './common.js';
import { connect, target } from './connect.js';
import { keyOfId } from '../containerd/labels.js';
import { cpuPercent, statsOf, type TaskStats } from '../containerd/stats.js';
import type { TasksService } from '../containerd/tasks.js';

export const STATS_USAGE = 'usage: converge stats [NAME|NAMESPACE/NAME]... [--no-stream] [-o table|json]\n';
const INTERVAL_MS = 1000;

export interface StatsRow {
  namespace: string;
  name: string;
  id: string;
  /** Percent of one CPU over the last interval. */
  cpuPercent: number;
  cpuSeconds: number;
  memoryBytes: number;
  memoryLimitBytes: number | null;
  cgroup: 1 | 2;
}

export async function statsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...COMMON, 'no-stream': { type: 'boolean' }, output: { type: 'string', short: 'o', default: 'table' } },
  });
  if (values.help) {
    process.stdout.write(STATS_USAGE);
    return 0;
  }
  if (values.output !== 'table' && values.output !== 'json') {
    process.stderr.write(`converge: stats: -o: expected table or json, got '${values.output}'\n${STATS_USAGE}`);
    return 2;
  }
  const wanted = positionals.map((n) => target(n).id);
  const conn = await connect(values);
  const stop = new AbortController();
  const onInterrupt = (): void => stop.abort();
  process.once('SIGINT', onInterrupt);
  try {
    let before = await read(conn.tasks, wanted);
    const missing = wanted.filter((id) => !before.has(id));
    if (missing.length > 0) {
      process.stderr.write(`converge: stats: no running task for ${missing.map(keyOfId).join(', ')}\n`);
      return 1;
    }
    for (;;) {
      await sleep(INTERVAL_MS, undefined, { signal: stop.signal }).catch(() => undefined);
      if (stop.signal.aborted) return 0;
      const after = await read(conn.tasks, wanted);
      const rows = [...after.values()].map((s) => rowOf(s, before.get(s.id))).sort((a, b) => a.id.localeCompare(b.id));
      before = after;
      if (values.output === 'json') process.stdout.write(JSON.stringify(rows, null, values['no-stream'] ? 2 : undefined) + '\n');
      else process.stdout.write((values['no-stream'] || !process.stdout.isTTY ? '' : '\x1b[2J\x1b[H') + formatStats(rows));
      if (values['no-stream']) return 0;
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    conn.close();
  }
}

async function read(tasks: TasksService, wanted: string[]): Promise<Map<string, TaskStats>> {
  const now = Date.now();
  const out = new Map<string, TaskStats>();
  for (const m of await tasks.metrics()) {
    if (wanted.length > 0 && !wanted.includes(m.id)) continue;
    const s = statsOf(m, now);
    if (s) out.set(s.id, s);
  }
  return out;
}

function rowOf(s: TaskStats, before: TaskStats | undefined): StatsRow {
  const key = keyOfId(s.id);
  const [namespace, name] = key.includes('/') ? key.split('/', 2) : ['', key];
  return {
    namespace,
    name,
    id: s.id,
    cpuPercent: Math.round((cpuPercent(before, s) ?? 0) * 100) / 100,
    cpuSeconds: s.cpuSeconds,
    memoryBytes: s.memoryBytes,
    memoryLimitBytes: s.memoryLimitBytes,
    cgroup: s.cgroup,
  };
}

/** 1.5KiB, 12.3MiB, 2GiB: binary units, as docker stats prints them. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)}${units[i]}`;
}

export function formatStats(rows: StatsRow[]): string {
  const header = ['NAMESPACE', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %'];
  const cells = rows.map((r) => [
    r.namespace,
    r.name,
    `${r.cpuPercent.toFixed(2)}%`,
    `${formatBytes(r.memoryBytes)} / ${r.memoryLimitBytes === null ? '-' : formatBytes(r.memoryLimitBytes)}`,
    r.memoryLimitBytes ? `${((100 * r.memoryBytes) / r.memoryLimitBytes).toFixed(2)}%` : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  return [header, ...cells].map((c) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]))).join('  ') + '\n').join('');
}
