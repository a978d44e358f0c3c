// Figure 4 (controller restart with its containers running: start -> /readyz 200, and how
// many containers it restarted), figure 5's steady-state CPU, and the controller's peak
// memory while it adopts running containers.

import { allRunning, delay, waitReadyz, waitRows, type Converge, type Phase } from './env.js';
import { cpuMs, peakRssMiB } from './proc.js';
import type { Figure } from './report.js';
import { since, summarize } from './stats.js';
import { BenchError } from './errors.js';

export interface RestartConfig {
  runs: number;
  workers: number;
  cpuWindows: number;
  cpuWindowMs: number;
  /** converge's --resync, to say whether a window can hold one. */
  resyncS: number;
}

/** Task pid per container ID, as containerd reports it. */
async function pids(phase: Phase): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const c of await phase.runtime.list()) if (c.task?.status === 'running') out.set(c.id, c.task.pid);
  return out;
}

export interface RestartResult {
  figures: Figure[];
  /** The converge left running (for the CPU figure and teardown). */
  converge: Converge;
  /** Containers whose task was not the same process after a restart of converge. */
  restarted: number;
}

export async function restartFigures(phase: Phase, first: Converge, n: number, cfg: RestartConfig, progress: (m: string) => void): Promise<RestartResult> {
  let c = first;
  const ready: number[] = [];
  const restarted: number[] = [];
  const rss: number[] = [];
  for (let run = 0; run < cfg.runs; run++) {
    await c.stop();
    const before = await pids(phase);
    if (before.size !== n) throw new BenchError('BENCH_UNEXPECTED_STATE', `${before.size} tasks running before the restart, expected ${n}`);
    const start = performance.now();
    c = await phase.converge(['--workers', String(cfg.workers)]);
    await waitReadyz(c, 120_000);
    ready.push(since(start));
    await waitRows(c, allRunning(n), `${n} containers running after the restart`);
    const after = await pids(phase);
    restarted.push([...before].filter(([id, pid]) => after.get(id) !== pid).length);
    rss.push(peakRssMiB(c.pid));
    progress(`restart ${run + 1}: ready in ${ready.at(-1)} ms, ${restarted.at(-1)} containers restarted`);
  }
  const figures: Figure[] = [
    {
      id: 'restart.ready',
      group: '4. Controller restart',
      name: `${n} running: start → /readyz 200`,
      unit: 'ms',
      converge: summarize(ready),
      how:
        `converge stopped with SIGTERM (its ${n} containers keep running), started again; from spawn (Node start included) ` +
        'until /readyz (polled) answers 200, i.e. the first full reconcile is done.',
    },
    {
      id: 'restart.restarted',
      group: '4. Controller restart',
      name: 'containers restarted by it (must be 0)',
      unit: 'count',
      converge: summarize(restarted),
      how: 'Task pids per container read from containerd before the stop and once all rows are Running again after the restart; any pid that differs counts.',
    },
    {
      id: `memory.adopt.${n}`,
      group: '6. Memory',
      name: `peak RSS, ${n} desired (adopting ${n} running)`,
      unit: 'MiB',
      converge: summarize(rss),
      how: `VmHWM of each restarted converge once all ${n} adopted containers show Running.`,
    },
  ];
  return { figures, converge: c, restarted: Math.max(...restarted) };
}

export async function cpuFigure(c: Converge, n: number, cfg: RestartConfig): Promise<Figure> {
  await delay(Math.min(5_000, cfg.cpuWindowMs / 4)); // let the restart's own work fade
  const perMinute: number[] = [];
  for (let w = 0; w < cfg.cpuWindows; w++) {
    const cpu0 = cpuMs(c.pid);
    const t0 = performance.now();
    await delay(cfg.cpuWindowMs);
    const used = cpuMs(c.pid) - cpu0;
    perMinute.push(Math.round((used * 60_000) / (performance.now() - t0)));
  }
  const total = (cfg.cpuWindows * cfg.cpuWindowMs) / 1000;
  return {
    id: 'steady.cpu',
    group: '5. Steady state',
    name: `CPU of converge, ${n} containers, nothing changing`,
    unit: 'CPU ms/min',
    converge: summarize(perMinute),
    how:
      `utime+stime of the converge process from /proc over ${cfg.cpuWindows} back-to-back windows of ${cfg.cpuWindowMs / 1000} s, ` +
      `each scaled to a minute; nobody polls it meanwhile. With --resync ${cfg.resyncS}s, ${total >= cfg.resyncS ? 'about one full resync falls in' : 'a full resync may or may not fall in'} the ${total} s measured.`,
  };
}
