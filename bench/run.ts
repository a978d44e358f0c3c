// `npm run bench`: measures how fast and how cheaply converge converges, next to raw ctr
// on the same private containerd in the same run, prints a markdown table and writes the
// figures as JSON under bench/results/. It never fails on a time (machines are noisy),
// only when something does not work: a wait that never ends, or a restarted container.
//
//   node dist/bench/run.js [--smoke] [--runs N] [--only cold,latency,restart,scale,churn,network,trust,health,update] [--cpu-prof DIR] [--update-readme]
//
// --cpu-prof DIR: every converge it starts writes a V8 CPU profile there on exit.
// --update-readme: puts the table (not the smoke one) between the bench markers of README.md.
// CONVERGE_TEST_CONTAINERD=DIR runs a built containerd instead of Debian's, as the tests do.

import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { coldFigures } from './cold.js';
import { Bench, type Converge } from './env.js';
import { CtrBaseline, editFigures, killFigure, populate } from './latency.js';
import { pickupFigures } from './pickup.js';
import { markdown, machineInfo, updateReadme, writeResults, type Figure, type Results } from './report.js';
import { churnFigures } from './churn.js';
import { cpuFigure, restartFigures } from './restart.js';
import { scaleFigures } from './scale.js';
import { networkFigures } from './network.js';
import { policyFigure, seccompFigure } from './trust.js';
import { healthCpuFigure, updateFigure } from './health.js';
import { BenchError } from './errors.js';
import { selectedVersion } from '../test/harness/selection.js';

const PARTS = ['cold', 'latency', 'restart', 'scale', 'churn', 'network', 'trust', 'health', 'update'] as const;
type Part = (typeof PARTS)[number];

function configFor(smoke: boolean, runs: number | undefined) {
  const r = runs ?? (smoke ? 1 : 3);
  return {
    workers: 8,
    // 1,000 containers are minutes of the machine per run: one run, and none in smoke mode.
    cold: { sizes: smoke ? [3] : [10, 50, 100, 1000], runs: r, largeRuns: 1, workers: 8 },
    // others + edits + kills = the "100 running" of figures 2-5 (6 in smoke mode).
    latency: { others: smoke ? 2 : 60, edits: smoke ? 2 : 20, kills: smoke ? 2 : 20, pickups: smoke ? 2 : 10, workers: 8 },
    restart: { runs: r, workers: 8, cpuWindows: smoke ? 1 : 3, cpuWindowMs: smoke ? 2_000 : 20_000, resyncS: 60 },
    // The growth 100 -> 1,000 -> 10,000 (10,000 containers without tasks: minutes to make, no shims).
    scale: { sizes: smoke ? [20] : [100, 1000, 10_000], runs: r, plannerRuns: smoke ? 3 : 20, listRuns: smoke ? 2 : 5, workers: 8 },
    // One long run rather than several: the figure is how memory moves over many cycles.
    churn: { cycles: smoke ? 10 : 200, warmup: smoke ? 2 : 5, workers: 8 },
    network: { n: smoke ? 3 : 20, runs: r, workers: 8 },
    trust: { specs: smoke ? 50 : 1000, runs: smoke ? 3 : 20, starts: smoke ? 2 : 10 },
    health: { n: smoke ? 5 : 100, cpuWindows: smoke ? 1 : 3, cpuWindowMs: smoke ? 2_000 : 20_000, workers: 8 },
    update: { runs: r },
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      runs: { type: 'string' },
      only: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'update-readme': { type: 'boolean', default: false },
    },
  });
  const smoke = values.smoke;
  const runs = values.runs === undefined ? undefined : Number(values.runs);
  if (runs !== undefined && (!Number.isInteger(runs) || runs < 1)) throw new BenchError('BENCH_USAGE', `--runs: expected a whole number >= 1, got '${values.runs}'`);
  const only = new Set((values.only?.split(',') ?? PARTS).map((p) => p.trim()) as Part[]);
  for (const p of only) if (!PARTS.includes(p)) throw new BenchError('BENCH_USAGE', `--only: unknown part '${p}' (one of ${PARTS.join(', ')})`);
  if (values['cpu-prof']) {
    // Every converge the bench starts writes a V8 CPU profile there when it exits.
    const dir = path.resolve(values['cpu-prof']);
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${dir}`.trim();
  }
  if (smoke && values['update-readme']) throw new BenchError('BENCH_USAGE', '--update-readme: a smoke run\'s figures mean nothing; run the full bench');
  const cfg = configFor(smoke, runs);
  const began = performance.now();
  const loadAtStart = Math.round(os.loadavg()[0] * 100) / 100;
  const progress = (m: string) => process.stderr.write(`bench: ${m}\n`);
  const figures: Figure[] = [];
  let restarted = 0;

  const bench = await Bench.start();
  try {
    if (only.has('cold')) figures.push(...(await coldFigures(bench, cfg.cold, progress)));
    if (only.has('latency') || only.has('restart')) {
      const phase = await bench.phase('run');
      try {
        let c: Converge = await phase.converge(['--workers', String(cfg.workers)]);
        const n = await populate(phase, c, cfg.latency);
        progress(`${n} containers running`);
        if (only.has('latency')) {
          const basePhase = await bench.phase('ctr-latency');
          try {
            const base = new CtrBaseline(basePhase);
            figures.push(...(await editFigures(phase, c, cfg.latency, n, base)));
            figures.push(await killFigure(c, cfg.latency, n, base));
          } finally {
            await basePhase.cleanup();
          }
          figures.push(...(await pickupFigures(phase, c, cfg.latency, n)));
        }
        if (only.has('restart')) {
          const r = await restartFigures(phase, c, n, cfg.restart, progress);
          c = r.converge;
          restarted = r.restarted;
          figures.push(...r.figures);
          figures.push(await cpuFigure(c, n, cfg.restart));
        }
      } finally {
        await phase.cleanup();
      }
    }
    if (only.has('scale')) figures.push(...(await scaleFigures(bench, cfg.scale, progress)));
    if (only.has('churn')) figures.push(...(await churnFigures(bench, cfg.churn, progress)));
    if (only.has('network')) figures.push(...(await networkFigures(bench, cfg.network, progress)));
    if (only.has('trust')) {
      const phase = await bench.phase('policy');
      try {
        figures.push(policyFigure(phase.dir, cfg.trust));
      } finally {
        await phase.cleanup();
      }
      figures.push(await seccompFigure(bench, cfg.trust));
    }
    if (only.has('health')) figures.push(await healthCpuFigure(bench, cfg.health, progress));
    if (only.has('update')) figures.push(await updateFigure(bench, cfg.update, progress));
  } finally {
    await bench.close();
  }

  const results: Results = {
    version: 1,
    timestamp: new Date().toISOString(),
    mode: smoke ? 'smoke' : 'full',
    durationS: Math.round((performance.now() - began) / 1000),
    machine: machineInfo(selectedVersion(), loadAtStart),
    config: cfg,
    figures: [...figures].sort((a, b) => a.group.localeCompare(b.group, 'en', { numeric: true })),
  };
  process.stdout.write(markdown(results));
  const dir = path.resolve(import.meta.dirname, '../../bench/results');
  // A smoke run's figures mean nothing: keep them out of the committed results.
  const stamp = results.timestamp.replace(/[:.]/g, '-');
  const [file] = writeResults(dir, results, smoke ? ['smoke-latest.json'] : [`${stamp}.json`, 'latest.json']);
  progress(`wrote ${file} (${results.durationS} s)`);
  if (values['update-readme']) {
    const readme = path.resolve(import.meta.dirname, '../../README.md');
    updateReadme(readme, markdown(results, { how: false }));
    progress(`updated the table in ${readme}`);
  }
  if (restarted > 0) {
    progress(`FAIL: a restart of converge restarted ${restarted} running containers`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const usage = err instanceof BenchError && err.code === 'BENCH_USAGE';
    process.stderr.write(`bench: ${err instanceof Error ? (usage ? err.message : (err.stack ?? err.message)) : String(err)}\n`);
    process.exit(1);
  },
);
