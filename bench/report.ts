// The bench's output: one Figure per measured quantity, printed as a markdown table (the
// README carries the latest one) and written as JSON under bench/results/.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Summary } from './stats.js';
import { BenchError } from './errors.js';

export type Unit = 'ms' | 'MiB' | 'KiB' | 'count' | 'CPU ms/min';

export interface Figure {
  /** Stable id for comparing runs, e.g. "cold.up.100". */
  id: string;
  /** The figure number and name, e.g. "1. Cold converge". */
  group: string;
  name: string;
  unit: Unit;
  converge: Summary;
  /** The same work done with ctr, where there is a baseline. */
  baseline?: Summary;
  /** converge median / baseline median. */
  ratio?: number;
  /** What was measured and how. */
  how: string;
}

export interface Machine {
  cores: number;
  /** 1-minute load average at the start and at the end of the run (others' work skews figures). */
  load: { start: number; end: number };
  cpu: string;
  memoryMiB: number;
  kernel: string;
  node: string;
  containerd: string;
}

export interface Results {
  version: 1;
  timestamp: string;
  mode: 'full' | 'smoke';
  durationS: number;
  machine: Machine;
  config: Record<string, unknown>;
  figures: Figure[];
}

export function machineInfo(containerd: string, loadAtStart: number): Machine {
  return {
    cores: os.availableParallelism(),
    load: { start: loadAtStart, end: Math.round(os.loadavg()[0] * 100) / 100 },
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryMiB: Math.round(os.totalmem() / 2 ** 20),
    kernel: os.release(),
    node: process.version,
    containerd,
  };
}

function num(v: number, unit: Unit): string {
  if (unit === 'count' || unit === 'KiB') return String(Math.round(v));
  if (unit === 'MiB') return v.toFixed(1);
  if (v >= 100) return String(Math.round(v));
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function cell(s: Summary | undefined, unit: Unit): string {
  if (!s) return '';
  const range = s.values.length > 1 ? ` (${num(s.min, unit)}–${num(s.max, unit)})` : '';
  if (s.p50 !== undefined && s.p95 !== undefined) return `p50 ${num(s.p50, unit)}, p95 ${num(s.p95, unit)}${range}`;
  return `${num(s.median, unit)}${range}`;
}

/** The markdown table, and (unless `how` is false) a numbered list saying how each figure was measured. */
export function markdown(r: Results, opts: { how?: boolean } = {}): string {
  const m = r.machine;
  const out = [
    `converge ${r.mode === 'smoke' ? 'smoke run (tiny sizes, 1 run: proves the bench works, the figures mean nothing)' : 'benchmark'}, ${r.timestamp}: ` +
      `${m.cores} cores (${m.cpu}), ${Math.round(m.memoryMiB / 1024)} GiB, Linux ${m.kernel}, Node ${m.node}, containerd ${m.containerd}; ` +
      `load average ${m.load.start} at the start, ${m.load.end} at the end, ${r.durationS} s. ` +
      'Median of the runs with (min–max); p50/p95 over the samples for latencies. The baseline is ctr doing the same work, unless the row names another. ' +
      'Every "until" polls after 10 ms, then at gaps of 2% of the time waited so far (at most 250 ms), so the looking costs converge little.',
    '',
    '| # | Figure | Unit | converge | baseline | ratio | n |',
    '|---|---|---|---|---|---|---|',
  ];
  r.figures.forEach((f, i) => {
    const ratio = f.ratio !== undefined ? `${f.ratio.toFixed(2)}×` : '';
    out.push(`| ${i + 1} | ${f.group}: ${f.name} | ${f.unit} | ${cell(f.converge, f.unit)} | ${cell(f.baseline, f.unit)} | ${ratio} | ${f.converge.values.length} |`);
  });
  if (opts.how !== false) {
    out.push('', 'How each row was measured:', '');
    r.figures.forEach((f, i) => out.push(`${i + 1}. ${f.how}`));
  }
  return out.join('\n') + '\n';
}

export const README_BEGIN = '<!-- bench:begin (written by npm run bench -- --update-readme) -->';
export const README_END = '<!-- bench:end -->';

/** Replaces the text between the bench markers of the README with `table`. */
export function updateReadme(file: string, table: string): void {
  const text = readFileSync(file, 'utf8');
  const begin = text.indexOf(README_BEGIN);
  const end = text.indexOf(README_END);
  if (begin < 0 || end < begin) throw new BenchError('BENCH_USAGE', `${file} has no ${README_BEGIN} ... ${README_END} section to update`);
  const tmp = `${file}.bench.tmp`;
  writeFileSync(tmp, `${text.slice(0, begin + README_BEGIN.length)}\n${table}${text.slice(end)}`);
  renameSync(tmp, file);
}

/** Writes the results under each of `names` in `dir` (each written aside, then renamed); returns the paths. */
export function writeResults(dir: string, r: Results, names: string[]): string[] {
  mkdirSync(dir, { recursive: true });
  const text = JSON.stringify(r, null, 2) + '\n';
  return names.map((name) => {
    const target = path.join(dir, name);
    const tmp = `${target}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, target);
    return target;
  });
}
