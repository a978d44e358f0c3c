// Figure 1: cold converge of N containers (N spec files dropped at once -> every task
// running) and their teardown (files removed -> nothing left in containerd), next to the
// same containers created with `ctr run -d` and removed with ctr, at the same parallelism.

import path from 'node:path';
import { BUSYBOX_IMAGE } from '../test/harness/image.js';
import { allRunning, benchSpec, pool, waitReadyz, waitRows, type Bench, type Phase } from './env.js';
import { sameAsConverge } from './same.js';
import { childrenCpuMs, cpuMs, peakRssMiB } from './proc.js';
import type { Figure } from './report.js';
import { since, summarize } from './stats.js';
import { BenchError } from './errors.js';

export interface ColdConfig {
  sizes: number[];
  runs: number;
  /** Runs of sizes from 1,000 up (each is minutes of the machine). */
  largeRuns: number;
  /** converge's --workers, and the number of ctr processes run at once. */
  workers: number;
}

interface Sample {
  up: number;
  down: number;
  /** CPU used by the client (converge, or all the ctr processes) while bringing them up. */
  cpu: number;
}

interface ConvergeSample extends Sample {
  peakRss: number;
  pickup: number;
  /** A restart of converge with the n containers running: spawn -> /readyz 200. */
  ready: number;
}

const name = (i: number): string => `c-${i}`;

async function convergeRun(phase: Phase, n: number, workers: number): Promise<ConvergeSample> {
  let c = await phase.converge(['--workers', String(workers)]);
  try {
    await waitReadyz(c, 60_000);
    const logged = c.lines.length;
    const cpu0 = cpuMs(c.pid);
    const wall = Date.now();
    let start = performance.now();
    for (let i = 0; i < n; i++) phase.write(name(i), benchSpec(name(i)));
    await waitRows(c, allRunning(n), `${n} containers running`);
    const up = since(start);
    const cpu = cpuMs(c.pid) - cpu0;
    const peakRss = peakRssMiB(c.pid);
    const first = c.lines.slice(logged).find((l) => l.msg === 'applying action');
    const pickup = first ? Date.parse(first.time) - wall : NaN;
    // converge restarted with the n containers running: how long until it is ready again.
    await c.stop();
    start = performance.now();
    c = await phase.converge(['--workers', String(workers)]);
    await waitReadyz(c, 300_000);
    const ready = since(start);
    const acted = c.actions().length;
    if (acted > 0) throw new BenchError('BENCH_UNEXPECTED_STATE', `a restart of converge with ${n} containers running applied ${acted} actions:\n${c.tail()}`);
    start = performance.now();
    for (let i = 0; i < n; i++) phase.remove(name(i));
    await phase.waitEmpty();
    const down = since(start);
    return { up, down, cpu, peakRss, pickup, ready };
  } finally {
    await c.stop();
  }
}

/**
 * How the baseline's ctr makes each container. 'plain': its output to a file by containerd
 * (without --log-uri ctr would wire FIFOs). 'same': what converge makes of a spec with no
 * security fields: its seccomp profile loaded by runc, its log driver started by the shim.
 */
type BaselineKind = 'plain' | 'same';

async function baselineRun(phase: Phase, n: number, workers: number, kind: BaselineKind): Promise<Sample> {
  const ids = Array.from({ length: n }, (_, i) => name(i));
  const logs = path.join(phase.stateDir, 'ctr-logs');
  const extra = kind === 'same' ? await sameAsConverge(phase.stateDir) : undefined;
  const cpu0 = childrenCpuMs();
  let start = performance.now();
  await pool(ids, workers, (id) =>
    phase.ctr([
      'run', '-d', '--snapshotter', 'overlayfs',
      ...(extra ? [...extra.flags, '--log-uri', extra.logUri(id)] : ['--log-uri', `file://${logs}/${id}.log`]),
      BUSYBOX_IMAGE, id, 'sleep', '3600',
    ]),
  );
  const up = since(start);
  const cpu = childrenCpuMs() - cpu0;
  const held = await phase.contents();
  if (held.tasks !== n) throw new BenchError('BENCH_UNEXPECTED_STATE', `ctr run -d left ${held.tasks} tasks, expected ${n}`);
  start = performance.now();
  // `tasks rm -f` is kill -s KILL, wait for the exit, delete; `containers rm` takes the snapshot along.
  await pool(ids, workers, async (id) => {
    await phase.ctr(['tasks', 'rm', '-f', id]);
    await phase.ctr(['containers', 'rm', id]);
  });
  await phase.waitEmpty();
  const down = since(start);
  return { up, down, cpu };
}

export async function coldFigures(bench: Bench, cfg: ColdConfig, progress: (msg: string) => void): Promise<Figure[]> {
  const conv = await bench.phase('cold');
  const base = await bench.phase('ctr');
  const figures: Figure[] = [];
  try {
    const rss: number[] = [];
    const largest = Math.max(...cfg.sizes);
    for (const n of cfg.sizes) {
      const c: ConvergeSample[] = [];
      const b: Sample[] = [];
      const same: Sample[] = [];
      for (let run = 0; run < (n >= 1000 ? cfg.largeRuns : cfg.runs); run++) {
        // Rotate who goes first, so a slow patch of the machine does not favour one side.
        const who = ['converge', 'ctr', 'same'] as const;
        for (let k = 0; k < who.length; k++) {
          const next = who[(run + k) % who.length];
          if (next === 'converge') {
            const s = await convergeRun(conv, n, cfg.workers);
            c.push(s);
            if (n === largest) rss.push(s.peakRss);
          } else {
            (next === 'ctr' ? b : same).push(await baselineRun(base, n, cfg.workers, next === 'ctr' ? 'plain' : 'same'));
          }
        }
        const [lc, lb, ls] = [c.at(-1)!, b.at(-1)!, same.at(-1)!];
        progress(`cold N=${n} run ${run + 1}: converge up ${lc.up} ms (first action at ${lc.pickup} ms, ${lc.cpu} ms CPU, restart ready in ${lc.ready} ms) down ${lc.down} ms; ctr up ${lb.up} ms (${lb.cpu} ms CPU) down ${lb.down} ms; ctr, the same containers, up ${ls.up} ms down ${ls.down} ms`);
      }
      figures.push(...sizeFigures(n, c, b, same, cfg.workers));
    }
    figures.push({
      id: `memory.cold.${largest}`,
      group: '6. Memory',
      name: `peak RSS, cold converge of ${largest}`,
      unit: 'MiB',
      converge: summarize(rss),
      how: `VmHWM of the converge process (from /proc) right after its ${largest} containers of figure 1 were running (start, ready, create all).`,
    });
  } finally {
    await conv.cleanup();
    await base.cleanup();
  }
  return figures;
}

function sizeFigures(n: number, c: ConvergeSample[], b: Sample[], same: Sample[], workers: number): Figure[] {
  const group = '1. Cold converge';
  const compare = (pick: (s: Sample) => number, against = b) => {
    const converge = summarize(c.map(pick));
    const baseline = summarize(against.map(pick));
    return { converge, baseline, ratio: converge.median / baseline.median };
  };
  const figures: Figure[] = [
    {
      id: `cold.up.${n}`,
      group,
      name: `${n} files dropped → all running`,
      unit: 'ms',
      ...compare((s) => s.up),
      how:
        `converge (idle, ready, --workers ${workers}) watching an empty dir; ${n} spec files (sleep 3600) written at once; ` +
        `until /v1/status (polled) shows ${n} rows Running with a pid. Baseline: ${n}× \`ctr run -d --log-uri file://…\` ` +
        `of the same image and command, ${workers} at a time, until the last returns.`,
    },
    {
      id: `cold.up.same.${n}`,
      group,
      name: `${n} files dropped → all running, against ctr making the same containers`,
      unit: 'ms',
      ...compare((s) => s.up, same),
      how:
        `The converge column of the row above; baseline: ${n}× \`ctr run -d\` as there, with what converge gives a container ` +
        `whose spec has no security or log fields: \`--seccomp --seccomp-profile\` converge's profile (src/containerd/seccomp.ts, ` +
        `default capabilities; runc loads the filter) and \`--log-uri binary://…converge-logger?…\` (the shim starts the log driver per task), ` +
        `in the same run, the three in rotating order.`,
    },
    {
      id: `cold.pickup.${n}`,
      group,
      name: `${n} files dropped → first action`,
      unit: 'ms',
      converge: summarize(c.map((s) => s.pickup)),
      how: 'Part of the row above: from the first write until converge logs its first "applying action" (the directory source\'s pickup of files moved into place: debounce, read), from its log timestamps.',
    },
  ];
  figures.push({
    id: `cold.cpu.${n}`,
    group,
    name: `${n} files dropped → all running: CPU of the client per container`,
    unit: 'ms',
    ...compare((s) => s.cpu / n),
    how: `CPU time (user + system, from /proc) of the converge process during the "${n} files dropped → all running" row, against that of all ${n} ctr processes of the baseline (the bench's waited-for children), divided by ${n}. containerd's and the shims' CPU is in neither.`,
  });
  figures.push({
    id: `restart.ready.running.${n}`,
    group: '4. Controller restart',
    name: `${n} running: start → /readyz 200`,
    unit: 'ms',
    converge: summarize(c.map((s) => s.ready)),
    how: `Part of the "${n} files dropped" run: converge stopped with SIGTERM once its ${n} containers run, started again; from spawn (Node start included) until /readyz answers 200 (its first full reconcile: every container adopted, none touched, which the bench checks).`,
  });
  figures.push({
    id: `cold.down.${n}`,
    group,
    name: `${n} files removed → nothing left`,
    unit: 'ms',
    ...compare((s) => s.down),
    how:
      `All ${n} spec files deleted at once; until containerd (polled) holds no container, no task and no snapshot ` +
      `but the image's committed layer. Baseline: \`ctr tasks rm -f\` + \`ctr containers rm\` per container, ${workers} at a time, then the same check.`,
  });
  return figures;
}
