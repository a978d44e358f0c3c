// Figure 5's cost of one full resync with many desired specs (the planner alone, the
// containerd listing alone, and the controller's whole resync), and figure 6's memory with
// 0 and many desired specs. The many containers are created but never started: each spec
// depends on a container that is never declared, so converge adopts them and waits,
// holding every desired spec and every actual container without a task or shim per spec.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { createController } from '../src/reconcile/controller.js';
import { dependencyStateOf, plan } from '../src/reconcile/plan.js';
import { DEFAULT_BACKOFF } from '../src/backoff.js';
import { loadFile } from '../src/spec/load.js';
import { toDesired } from '../src/spec/resolve.js';
import type { Source } from '../src/desired.js';
import { idOf } from '../src/containerd/labels.js';
import type { DesiredContainer, Key } from '../src/spec/types.js';
import type { ActualContainer } from '../src/reconcile/runtime.js';
import { waitFor } from '../test/harness/wait.js';
import { benchSpec, delay, pool, waitReadyz, type Bench, type Converge, type Phase } from './env.js';
import { peakRssMiB } from './proc.js';
import type { Figure } from './report.js';
import { since, summarize } from './stats.js';
import { BenchError } from './errors.js';

export interface ScaleConfig {
  /** Numbers of specs, each measured in turn (the growth from one to the next is the figure). */
  sizes: number[];
  runs: number;
  plannerRuns: number;
  listRuns: number;
  workers: number;
}

/** Figure 5: plan() over n synthetic desired specs and a synthetic actual list (all converged). */
export function plannerFigure(cfg: ScaleConfig, n: number): Figure {
  const desired = new Map<Key, DesiredContainer>();
  const actual = new Map<Key, ActualContainer>();
  for (let i = 0; i < n; i++) {
    const spec = benchSpec(`s-${i}`);
    const d = toDesired(spec, `dir:/bench/s-${i}.yaml`);
    desired.set(d.key, d);
    actual.set(d.key, { id: idOf(d.key), key: d.key, specHash: d.hash, managed: true, labels: {}, restarts: 0, task: { pid: 10_000 + i, status: 'running' } });
  }
  const ctx = {
    now: Date.now(),
    backoff: DEFAULT_BACKOFF,
    restarts: new Map(),
    removalAllowed: true,
    dependency: (k: Key) => dependencyStateOf(k, desired, actual),
  };
  for (let i = 0; i < 3; i++) plan(desired, actual, ctx); // warm up the JIT
  const samples: number[] = [];
  for (let i = 0; i < cfg.plannerRuns; i++) {
    const start = performance.now();
    const actions = plan(desired, actual, ctx);
    samples.push(Math.round((performance.now() - start) * 1000) / 1000);
    if (actions.length !== 0) throw new BenchError('BENCH_UNEXPECTED_STATE', `plan() of a converged world gave ${actions.length} actions`);
  }
  return {
    id: `resync.plan.${n}`,
    group: '5. Full resync',
    name: `planner, ${n} desired specs`,
    unit: 'ms',
    converge: summarize(samples),
    how: `\`plan()\` of src/reconcile/plan.ts in the bench process over ${n} synthetic desired specs and ${n} matching running actual containers (nothing to do); ${cfg.plannerRuns} runs after 3 warm-up runs.`,
  };
}

const name = (i: number): string => `r-${i}`;

/** Writes n spec files and creates their containers (no tasks) through converge's Runtime. */
async function populate(phase: Phase, cfg: ScaleConfig, n: number, progress: (m: string) => void): Promise<DesiredContainer[]> {
  for (let i = 0; i < n; i++) phase.write(name(i), benchSpec(name(i), { dependsOn: ['never-declared'] }));
  const specs = readdirSync(phase.specDir).flatMap((f) => {
    const file = path.join(phase.specDir, f);
    return loadFile(file, readFileSync(file, 'utf8')).specs;
  });
  if (specs.length !== n) throw new BenchError('BENCH_UNEXPECTED_STATE', `loaded ${specs.length} specs, expected ${n}`);
  const start = performance.now();
  await pool(specs, cfg.workers, (d) => phase.runtime.create(d, { restarts: 0 }));
  progress(`created ${n} containers (no tasks) in ${since(start)} ms`);
  return specs;
}

async function listFigure(phase: Phase, cfg: ScaleConfig, n: number): Promise<Figure> {
  const samples: number[] = [];
  for (let i = 0; i < cfg.listRuns; i++) {
    const start = performance.now();
    const listed = await phase.runtime.list();
    samples.push(since(start));
    if (listed.length !== n) throw new BenchError('BENCH_UNEXPECTED_STATE', `list() gave ${listed.length} containers, expected ${n}`);
  }
  return {
    id: `resync.list.${n}`,
    group: '5. Full resync',
    name: `containerd listing, ${n} containers`,
    unit: 'ms',
    converge: summarize(samples),
    how: `converge's \`runtime.list()\` (Containers.List + Tasks.List, converted to actual state) in the bench process, against ${n} containers created without tasks; ${cfg.listRuns} runs.`,
  };
}

/** The controller's own full resync: list, then one reconcile (get + plan) per key, until idle. */
async function controllerResyncFigure(phase: Phase, specs: DesiredContainer[], cfg: ScaleConfig): Promise<Figure> {
  const n = specs.length;
  const source: Source = {
    name: 'bench',
    start: async (emit) => emit({ source: 'bench', specs, problems: [], complete: true }),
    stop: async () => undefined,
  };
  const controller = createController({ runtime: phase.runtime, sources: [source], log: pino({ level: 'silent' }), workers: cfg.workers, resyncMs: 3_600_000 });
  const idle = () => waitFor(() => controller.ready() && controller.idle(), { what: 'controller idle', timeoutMs: 300_000, intervalMs: 1 });
  await controller.start();
  await idle();
  const samples: number[] = [];
  try {
    for (let i = 0; i < cfg.listRuns; i++) {
      const start = performance.now();
      await controller.resync();
      await idle();
      samples.push(since(start));
    }
  } finally {
    await controller.stop();
  }
  return {
    id: `resync.controller.${n}`,
    group: '5. Full resync',
    name: `whole resync in the controller, ${n} specs`,
    unit: 'ms',
    converge: summarize(samples),
    how:
      `The controller (in the bench process, --workers ${cfg.workers}) over the same ${n} containers: \`resync()\` (one listing, every key queued) ` +
      'until the queue is idle again, i.e. one reconcile per key (read the container and its task, plan, nothing to apply).',
  };
}

async function peakOf(phase: Phase, rows: number, readyMs: number[]): Promise<number> {
  const start = performance.now();
  const c: Converge = await phase.converge();
  try {
    await waitReadyz(c, 300_000);
    readyMs.push(since(start));
    const status = await c.status();
    if (status.length !== rows) throw new BenchError('BENCH_UNEXPECTED_STATE', `/v1/status has ${status.length} rows, expected ${rows}`);
    await delay(1_000); // a settled process, not one caught mid-start
    return peakRssMiB(c.pid);
  } finally {
    await c.stop();
  }
}

export async function scaleFigures(bench: Bench, cfg: ScaleConfig, progress: (m: string) => void): Promise<Figure[]> {
  const figures: Figure[] = cfg.sizes.map((n) => plannerFigure(cfg, n));
  const empty = await bench.phase('empty');
  try {
    const rss: number[] = [];
    for (let run = 0; run < cfg.runs; run++) rss.push(await peakOf(empty, 0, []));
    figures.push({
      id: 'memory.0',
      group: '6. Memory',
      name: 'peak RSS, 0 desired',
      unit: 'MiB',
      converge: summarize(rss),
      how: 'VmHWM of converge started on an empty dir, 1 s after /readyz answered 200.',
    });
  } finally {
    await empty.cleanup();
  }
  for (const n of cfg.sizes) figures.push(...(await sizeFigures(bench, cfg, n, progress)));
  return figures;
}

/** Everything measured over n specs whose containers exist without tasks. */
async function sizeFigures(bench: Bench, cfg: ScaleConfig, n: number, progress: (m: string) => void): Promise<Figure[]> {
  const figures: Figure[] = [];
  const phase = await bench.phase('scale');
  try {
    const specs = await populate(phase, cfg, n, progress);
    figures.push(await listFigure(phase, cfg, n));
    figures.push(await controllerResyncFigure(phase, specs, cfg));
    const rss: number[] = [];
    const ready: number[] = [];
    for (let run = 0; run < cfg.runs; run++) rss.push(await peakOf(phase, n, ready));
    progress(`${n} specs: ready in ${ready.join(', ')} ms, peak RSS ${rss.join(', ')} MiB`);
    figures.push({
      id: `restart.ready.created.${n}`,
      group: '4. Controller restart',
      name: `${n} created (no tasks): start → /readyz 200`,
      unit: 'ms',
      converge: summarize(ready),
      how: `converge started on ${n} spec files whose containers exist without tasks (each waits on an undeclared dependency); from spawn until /readyz answers 200.`,
    });
    figures.push({
      id: `memory.${n}`,
      group: '6. Memory',
      name: `peak RSS, ${n} desired`,
      unit: 'MiB',
      converge: summarize(rss),
      how: `VmHWM of converge holding ${n} desired specs and ${n} adopted containers (created, no tasks: they wait on an undeclared dependency, so no shims), 1 s after /readyz answered 200.`,
    });
    const start = performance.now();
    const all = await phase.runtime.list();
    await pool(all, cfg.workers, (c) => phase.runtime.remove(c.id, 'SIGKILL', 0));
    progress(`removed ${all.length} containers in ${since(start)} ms`);
  } finally {
    await phase.cleanup();
  }
  return figures;
}
