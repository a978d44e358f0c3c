// Figure 7, churn: one converge sees hundreds of create/delete cycles (a spec file written
// -> its container running -> the file deleted -> container, task and snapshot gone) and
// its resident memory and open file descriptors are read from /proc at the start, the
// middle and the end. Memory that grows with every cycle and never comes back is a leak
// (or garbage the process never returns); fds that grow are a handle leak.

import { readdirSync } from 'node:fs';
import { benchSpec, until, waitRows, type Bench, type Converge, type Phase } from './env.js';
import { rssMiB } from './proc.js';
import type { Figure } from './report.js';
import { since, summarize } from './stats.js';

export interface ChurnConfig {
  /** Measured create/delete cycles. */
  cycles: number;
  /** Cycles run before the first reading, so one-time costs (JIT, first calls) are not counted as growth. */
  warmup: number;
  workers: number;
}

/** Open file descriptors of a process. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

interface Reading {
  cycle: number;
  rss: number;
  fds: number;
}

const read = (c: Converge, cycle: number): Reading => ({ cycle, rss: rssMiB(c.pid), fds: fdCount(c.pid) });

const churnName = (i: number): string => `churn-${i}`;

/** One cycle: the spec written until its container runs, then deleted until containerd holds nothing of it. */
async function cycle(phase: Phase, c: Converge, i: number): Promise<void> {
  const name = churnName(i);
  phase.write(name, benchSpec(name));
  await waitRows(c, (rows) => rows.some((r) => r.name === name && r.phase === 'Running' && r.pid !== null), `${name} running`, 60_000);
  phase.remove(name);
  await waitRows(c, (rows) => !rows.some((r) => r.name === name), `${name} gone from the status`, 60_000);
  let last = { containers: -1, tasks: -1, snapshots: -1 };
  await until(
    async () => {
      last = await phase.contents();
      return last.containers === 0 && last.tasks === 0 && last.snapshots === 0;
    },
    `${name} gone from containerd`,
    60_000,
    () => `still there: ${JSON.stringify(last)}`,
  );
}

export async function churnFigures(bench: Bench, cfg: ChurnConfig, progress: (m: string) => void): Promise<Figure[]> {
  const phase = await bench.phase('churn');
  try {
    const c = await phase.converge(['--workers', String(cfg.workers)]);
    await waitRows(c, (rows) => rows.length === 0, 'converge up with nothing desired');
    for (let i = 0; i < cfg.warmup; i++) await cycle(phase, c, i);
    const readings: Reading[] = [read(c, 0)];
    const times: number[] = [];
    const mid = Math.ceil(cfg.cycles / 2);
    const every = Math.max(1, Math.round(cfg.cycles / 8));
    for (let i = 1; i <= cfg.cycles; i++) {
      const start = performance.now();
      await cycle(phase, c, cfg.warmup + i - 1);
      times.push(since(start));
      if (i === mid || i === cfg.cycles) readings.push(read(c, i));
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
    '/v1/status shows it Running; file deleted, until its row is gone and containerd holds no container, task or active snapshot.';
  const how = (what: string, i: number) =>
    i === 0 ? `${what} from /proc/PID before the first measured cycle. ${setup}` : `${what} from /proc/PID after cycle ${readings[i].cycle} (see the start row).`;
  const at = ['start', 'middle', 'end'];
  const out: Figure[] = [];
  readings.forEach((r, i) => {
    out.push({
      id: `churn.rss.${at[i]}`,
      group,
      name: `RSS of converge, ${at[i]} (after cycle ${r.cycle} of ${n})`,
      unit: 'MiB',
      converge: summarize([r.rss]),
      how: how('VmRSS', i),
    });
    out.push({
      id: `churn.fds.${at[i]}`,
      group,
      name: `open fds of converge, ${at[i]} (after cycle ${r.cycle} of ${n})`,
      unit: 'count',
      converge: summarize([r.fds]),
      how: how('Entries of fd/', i),
    });
  });
  const [first, middle, last] = readings;
  const perCycle = (a: Reading, b: Reading) => Math.round(((b.rss - a.rss) * 1024) / Math.max(1, b.cycle - a.cycle));
  out.push({
    id: 'churn.rss.growth',
    group,
    name: `RSS growth per cycle, over all ${n} cycles`,
    unit: 'KiB',
    converge: summarize([perCycle(first, last)]),
    how: '(VmRSS at the end − VmRSS at the start) / cycles. V8 grows its heap in steps and glibc keeps freed memory, so a small run says little.',
  });
  out.push({
    id: 'churn.rss.growth.late',
    group,
    name: 'RSS growth per cycle, second half',
    unit: 'KiB',
    converge: summarize([perCycle(middle, last)]),
    how: '(VmRSS at the end − VmRSS in the middle) / cycles in between: near 0 once the process has reached its working size; a leak keeps it up.',
  });
  out.push({
    id: 'churn.cycle',
    group,
    name: 'one create/delete cycle',
    unit: 'ms',
    converge: summarize(times, { percentiles: true }),
    how: 'From the spec write until containerd holds nothing of the container (see above); includes the directory source\'s settle waits and the bench\'s polling.',
  });
  return out;
}
