// Figure 7, churn: one converge sees hundreds of create/delete cycles (a spec file written
// -> its container running -> the file deleted -> container, task and snapshot gone) and
// its resident memory and open file descriptors are read from /proc at the start, the
// middle and the end. Memory that grows with every cycle and never comes back is a leak
// (or garbage the process never returns); fds that grow are a handle leak. Beside them,
// the size of V8's young generation from converge's own /metrics: RSS that grows while
// it grows is V8 sizing its heap to the allocation rate, not memory converge holds.

import { readdirSync } from 'node:fs';
import { benchSpec, until, waitRows, type Bench, type Converge, type Phase } from './env.js';
import { cpuMs, rssMiB } from './proc.js';
import type { Figure } from './report.js';
import { since, summarize } from './stats.js';
import { BenchError } from './errors.js';

export interface ChurnConfig {
  /** Measured create/delete cycles. */
  cycles: number;
  /** Cycles run before the first reading, so one-time costs (JIT, first calls) are not counted as growth. */
  warmup: number;
  workers: number;
}

/**
 * How often a cycle looks at converge's status. Each answer costs converge ~10 KiB of
 * garbage; at the latency figures' 10 ms the looking would be a fifth of what converge
 * allocates per cycle, and this figure measures no latency.
 */
const CHURN_POLL_MS = 50;

/** Open file descriptors of a process. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

interface Reading {
  cycle: number;
  rss: number;
  fds: number;
  cpuMs: number;
  /** V8's new space (both semi-spaces), MiB. */
  young: number;
}

/** V8's new-space size as converge's /metrics reports it (prom-client's default metrics). */
async function youngMiB(c: Converge): Promise<number> {
  const text = (await c.http('/metrics')).body;
  const m = /^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/m.exec(text);
  if (!m) throw new BenchError('BENCH_UNEXPECTED_STATE', 'converge /metrics has no new-space size');
  return Math.round((Number(m[1]) / 2 ** 20) * 10) / 10;
}

async function read(c: Converge, cycle: number): Promise<Reading> {
  return { cycle, rss: rssMiB(c.pid), fds: fdCount(c.pid), cpuMs: cpuMs(c.pid), young: await youngMiB(c) };
}

const churnName = (i: number): string => `churn-${i}`;

/** One cycle: the spec written until its container runs, then deleted until containerd holds nothing of it. */
async function cycle(phase: Phase, c: Converge, i: number): Promise<void> {
  const name = churnName(i);
  phase.write(name, benchSpec(name));
  const running = (r: { name: string; phase: string; pid: number | null }) => r.name === name && r.phase === 'Running' && r.pid !== null;
  await waitRows(c, (rows) => rows.some(running), `${name} running`, 60_000, CHURN_POLL_MS);
  phase.remove(name);
  await waitRows(c, (rows) => !rows.some((r) => r.name === name), `${name} gone from the status`, 60_000, CHURN_POLL_MS);
  let last = { containers: -1, tasks: -1, snapshots: -1 };
  await until(
    async () => {
      last = await phase.contents();
      return last.containers === 0 && last.tasks === 0 && last.snapshots === 0;
    },
    `${name} gone from containerd`,
    60_000,
    () => `still there: ${JSON.stringify(last)}`,
    CHURN_POLL_MS,
  );
}

export async function churnFigures(bench: Bench, cfg: ChurnConfig, progress: (m: string) => void): Promise<Figure[]> {
  const phase = await bench.phase('churn');
  try {
    const c = await phase.converge(['--workers', String(cfg.workers)]);
    await waitRows(c, (rows) => rows.length === 0, 'converge up with nothing desired');
    for (let i = 0; i < cfg.warmup; i++) await cycle(phase, c, i);
    const readings: Reading[] = [await read(c, 0)];
    const times: number[] = [];
    const mid = Math.ceil(cfg.cycles / 2);
    const every = Math.max(1, Math.round(cfg.cycles / 8));
    for (let i = 1; i <= cfg.cycles; i++) {
      const start = performance.now();
      await cycle(phase, c, cfg.warmup + i - 1);
      times.push(since(start));
      if (i === mid || i === cfg.cycles) readings.push(await read(c, i));
      if (i % every === 0) progress(`churn: ${i}/${cfg.cycles} cycles, RSS ${rssMiB(c.pid)} MiB, ${fdCount(c.pid)} fds`);
    }
    return figures(cfg, readings, times);
  } finally {
    await phase.cleanup();
  }
}

function figures(cfg: ChurnConfig, readings: Reading[], times: number[]): Figure[] {
  const group = '7. Churn';
  const n = cfg.cycles;
  const setup =
    `One converge, ${cfg.warmup} warm-up cycles, then ${n} measured create/delete cycles, each of a new name: spec file written, until ` +
    '/v1/status shows it Running; file deleted, until its row is gone and containerd holds no container, task or active snapshot ' +
    `(each polled every ${CHURN_POLL_MS} ms).`;
  const how = (what: string, i: number) =>
    i === 0 ? `${what} before the first measured cycle. ${setup}` : `${what} after cycle ${readings[i].cycle} (see the start row).`;
  const at = ['start', 'middle', 'end'];
  const out: Figure[] = [];
  const one = (id: string, name: string, unit: Figure['unit'], value: number, text: string): void => {
    out.push({ id, group, name, unit, converge: summarize([value]), how: text });
  };
  readings.forEach((r, i) => {
    const when = `${at[i]} (after cycle ${r.cycle} of ${n})`;
    one(`churn.rss.${at[i]}`, `RSS of converge, ${when}`, 'MiB', r.rss, how('VmRSS from /proc/PID/status', i));
    one(`churn.fds.${at[i]}`, `open fds of converge, ${when}`, 'count', r.fds, how('Entries of /proc/PID/fd', i));
  });
  const [first, middle, last] = readings;
  const perCycle = (a: Reading, b: Reading) => Math.round(((b.rss - a.rss) * 1024) / Math.max(1, b.cycle - a.cycle));
  one('churn.rss.growth', `RSS growth per cycle, over all ${n} cycles`, 'KiB', perCycle(first, last),
    '(VmRSS at the end − VmRSS at the start) / cycles. V8 grows its heap in steps and glibc keeps freed memory, so a small run says little.');
  one('churn.rss.growth.late', 'RSS growth per cycle, second half', 'KiB', perCycle(middle, last),
    '(VmRSS at the end − VmRSS in the middle) / cycles in between: near 0 once the process has reached its working size; a leak keeps it up.');
  for (const [i, r] of [[0, first], [2, last]] as const) {
    one(`churn.young.${at[i]}`, `V8 young generation of converge, ${at[i]}`, 'MiB', r.young,
      'nodejs_heap_space_size_total_bytes{space="new"} from its /metrics at the start and at the end: V8 doubles its new space ' +
        'each time the bytes that survived scavenges since the last doubling exceed it, up to a cap Node sizes from the memory the ' +
        'process may use (2 × 64 MiB on a 24 GiB host without a limit, 2 × 1 MiB under a 256 MiB one).');
  }
  one('churn.cpu', 'CPU of converge per cycle', 'ms', (last.cpuMs - first.cpuMs) / n,
    'utime+stime of converge from /proc/PID/stat over the measured cycles, divided by their number.');
  out.push({
    id: 'churn.cycle',
    group,
    name: 'one create/delete cycle',
    unit: 'ms',
    converge: summarize(times, { percentiles: true }),
    how: 'From the spec write until containerd holds nothing of the container (see above); includes the directory source\'s settle waits and the polling.',
  });
  return out;
}
