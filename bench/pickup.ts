// Figure 2's pickup rows: one new spec file -> converge's first action on it, for the two
// ways a file arrives: moved into place (temp file + rename, how editors, config management
// and git write) and written in place (open, write, close), which must wait for its write
// to settle so that a half-written file is never applied.

import { allRunning, benchSpec, waitRows, type Converge, type Phase } from './env.js';
import type { Figure } from './report.js';
import { summarize } from './stats.js';
import { BenchError } from './errors.js';

export interface PickupConfig {
  /** Samples of each kind of write. */
  pickups: number;
}

const pickupName = (i: number): string => `p-${i}`;

/** Writes one new file and returns ms from just before the write until converge's first action on it (its log's clock). */
async function pickupOnce(phase: Phase, c: Converge, name: string, inPlace: boolean): Promise<number> {
  const since = c.lines.length;
  const wall = Date.now();
  phase.write(name, benchSpec(name), { inPlace });
  const line = await c.waitLog((l) => l.msg === 'applying action' && l.key === `default/${name}`, `first action on ${name}`, { since, timeoutMs: 60_000 });
  const at = Date.parse(String(line.time));
  if (!Number.isFinite(at)) throw new BenchError('BENCH_UNEXPECTED_STATE', `log line without a time: ${JSON.stringify(line)}`);
  await waitRows(c, (rows) => rows.some((r) => r.name === name && r.phase === 'Running'), `${name} running`, 60_000);
  return at - wall;
}

/** Alternates the two kinds of write, then removes what it added (the world goes back to `running` containers). */
export async function pickupFigures(phase: Phase, c: Converge, cfg: PickupConfig, running: number): Promise<Figure[]> {
  const moved: number[] = [];
  const inPlace: number[] = [];
  for (let i = 0; i < 2 * cfg.pickups; i++) {
    const kind = i % 2 === 1;
    (kind ? inPlace : moved).push(await pickupOnce(phase, c, pickupName(i), kind));
  }
  for (let i = 0; i < 2 * cfg.pickups; i++) phase.remove(pickupName(i));
  await waitRows(c, allRunning(running), `back to ${running} containers`);
  const how = (what: string) =>
    `${cfg.pickups} new spec files, one at a time (each waited for until Running), ${what}, while ${running} containers run; ` +
    'from just before the write until converge logs "applying action" for it (its log timestamp): the directory source\'s pickup and the plan.';
  return [
    {
      id: 'pickup.moved',
      group: '2. Edit',
      name: 'file moved into place → first action',
      unit: 'ms',
      converge: summarize(moved, { percentiles: true }),
      how: how('each written beside the directory\'s files as a hidden temp file and renamed into place'),
    },
    {
      id: 'pickup.inplace',
      group: '2. Edit',
      name: 'file written in place → first action',
      unit: 'ms',
      converge: summarize(inPlace, { percentiles: true }),
      how: how('each written in place (open, write, close): this includes the write-settle wait (100 ms of unchanged size)'),
    },
  ];
}
