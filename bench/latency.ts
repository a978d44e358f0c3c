// Figures 2 and 3, on a converge that runs `others` idle containers plus the targets:
// one spec edit -> the recreated task running, and one task SIGKILLed -> the restarted
// task running (restartPolicy Always, first restart of each container).

import path from 'node:path';
import { BUSYBOX_IMAGE } from '../test/harness/image.js';
import { allRunning, benchSpec, waitRows, type Converge, type Phase } from './env.js';
import type { Figure } from './report.js';
import { since, summarize, type Summary } from './stats.js';
import { BenchError } from './errors.js';
import { sameAsConverge, type SameAsConverge } from './same.js';

export interface LatencyConfig {
  others: number;
  edits: number;
  kills: number;
  workers: number;
}

export const editName = (i: number): string => `e-${i}`;
export const killName = (i: number): string => `k-${i}`;
export const otherName = (i: number): string => `o-${i}`;

/** Writes every spec of the world and waits until all of them run; returns the total. */
export async function populate(phase: Phase, c: Converge, cfg: LatencyConfig): Promise<number> {
  const names = [
    ...Array.from({ length: cfg.others }, (_, i) => otherName(i)),
    ...Array.from({ length: cfg.edits }, (_, i) => editName(i)),
    ...Array.from({ length: cfg.kills }, (_, i) => killName(i)),
  ];
  for (const n of names) phase.write(n, benchSpec(n));
  await waitRows(c, allRunning(names.length), `${names.length} containers running`);
  return names.length;
}

async function pidOf(c: Converge, name: string): Promise<number> {
  const row = await c.row(name);
  if (!row?.pid || row.phase !== 'Running') throw new BenchError('BENCH_UNEXPECTED_STATE', `${name} is not running: ${JSON.stringify(row)}`);
  return row.pid;
}

/** Until the row of `name` is Running with a pid other than `old`. */
function waitNewPid(c: Converge, name: string, old: number, what: string): Promise<unknown> {
  return waitRows(
    c,
    (rows) => rows.some((r) => r.name === name && r.phase === 'Running' && r.pid !== null && r.pid !== old),
    `${name}: ${what}`,
    60_000,
  );
}

/**
 * The baselines, at the same parallelism (one at a time) on the same containerd, each taken
 * right after a converge sample so that both see the same machine: one `ctr run -d` (a new
 * container and its task), and one `ctr task start -d` of a container made beforehand with
 * `ctr container create` (a new task on an existing container and snapshot).
 */
export class CtrBaseline {
  private n = 0;
  readonly runs: number[] = [];
  /** `ctr run -d` of the container converge makes (same.ts). */
  readonly sameRuns: number[] = [];
  readonly starts: number[] = [];
  private same?: Promise<SameAsConverge>;

  constructor(private readonly phase: Phase) {}

  private logUri(id: string): string {
    return `file://${path.join(this.phase.stateDir, 'ctr-logs', `${id}.log`)}`;
  }

  async run(): Promise<void> {
    const id = `run-${this.n++}`;
    const start = performance.now();
    await this.phase.ctr(['run', '-d', '--snapshotter', 'overlayfs', '--log-uri', this.logUri(id), BUSYBOX_IMAGE, id, 'sleep', '3600']);
    this.runs.push(since(start));
  }

  async runSame(): Promise<void> {
    const same = await (this.same ??= sameAsConverge(this.phase.stateDir));
    const id = `same-${this.n++}`;
    const start = performance.now();
    await this.phase.ctr(['run', '-d', '--snapshotter', 'overlayfs', ...same.flags, '--log-uri', same.logUri(id), BUSYBOX_IMAGE, id, 'sleep', '3600']);
    this.sameRuns.push(since(start));
  }

  async start(): Promise<void> {
    const id = `start-${this.n++}`;
    await this.phase.ctr(['container', 'create', '--snapshotter', 'overlayfs', BUSYBOX_IMAGE, id, 'sleep', '3600']);
    const start = performance.now();
    await this.phase.ctr(['task', 'start', '-d', '--log-uri', this.logUri(id), id]);
    this.starts.push(since(start));
  }
}

const ratioOf = (c: Summary, b: Summary): number => (c.p50 ?? c.median) / (b.p50 ?? b.median);

export async function editFigures(phase: Phase, c: Converge, cfg: LatencyConfig, running: number, base: CtrBaseline): Promise<Figure[]> {
  const samples = await timeNewPids(
    c,
    cfg.edits,
    editName,
    'recreated',
    (n, i) => phase.write(n, benchSpec(n, { env: [{ name: 'EDIT', value: String(i) }] })),
    // Both baselines after each edit, in turns first.
    async () => {
      if (base.runs.length % 2 === 0) {
        await base.run();
        await base.runSame();
      } else {
        await base.runSame();
        await base.run();
      }
    },
  );
  const converge = summarize(samples, { percentiles: true });
  const baseline = summarize(base.runs, { percentiles: true });
  const same = summarize(base.sameRuns, { percentiles: true });
  return [{
    id: 'edit.recreate',
    group: '2. Edit',
    name: 'one spec edited → recreated task running',
    unit: 'ms',
    converge,
    baseline,
    ratio: ratioOf(converge, baseline),
    how:
      `${cfg.edits} edits one after another, each of a different container (an env var added: the spec hash changes), ` +
      `while ${running - 1} other containers run; from the write (temp file + rename) until /v1/status shows the container Running ` +
      'with a new pid (Running also means the spec hash matches). Includes the directory source\'s pickup of a moved-in file (no write-settle wait) and the SIGKILL stop. ' +
      'Baseline: one `ctr run -d --log-uri file://…` of the same image and command (a new container and task), right after each edit.',
  }, {
    id: 'edit.recreate.same',
    group: '2. Edit',
    name: 'one spec edited → recreated task running, against ctr making the same container',
    unit: 'ms',
    converge,
    baseline: same,
    ratio: ratioOf(converge, same),
    how:
      'The converge column of the row above; baseline: one `ctr run -d` as there, with converge\'s seccomp profile (`--seccomp --seccomp-profile`) ' +
      'and its log driver (`--log-uri binary://…converge-logger?…`), what converge gives a spec without security or log fields; taken after each edit, next to the other baseline.',
  }];
}

/** For containers 0..count-1: time from act() until the container runs with a new pid. */
async function timeNewPids(
  c: Converge,
  count: number,
  nameOf: (i: number) => string,
  what: string,
  act: (name: string, i: number, oldPid: number) => void,
  baseline: () => Promise<void>,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const n = nameOf(i);
    const old = await pidOf(c, n);
    const start = performance.now();
    act(n, i, old);
    await waitNewPid(c, n, old, what);
    samples.push(since(start));
    await baseline();
  }
  return samples;
}

export async function killFigure(c: Converge, cfg: LatencyConfig, running: number, base: CtrBaseline): Promise<Figure> {
  const samples = await timeNewPids(c, cfg.kills, killName, 'restarted', (_n, _i, old) => process.kill(old, 'SIGKILL'), () => base.start());
  const converge = summarize(samples, { percentiles: true });
  const baseline = summarize(base.starts, { percentiles: true });
  return {
    id: 'kill.restart',
    group: '3. Task killed',
    name: 'SIGKILL of the task → restarted task running',
    unit: 'ms',
    converge,
    baseline,
    ratio: ratioOf(converge, baseline),
    how:
      `${cfg.kills} kills, each of a different container (so each is a first restart, restartPolicy Always), with ${running} containers running; ` +
      'from kill(2) of the task\'s pid until /v1/status shows it Running with a new pid. Includes the default --backoff-initial of 100 ms ' +
      '(the goal: at most that plus one baseline). Baseline: one `ctr task start -d --log-uri file://…` of a container made beforehand ' +
      'with `ctr container create` (a new task on an existing container and snapshot), right after each kill.',
  };
}
