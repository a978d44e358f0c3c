// Figures for health checks and auto-update: converge's CPU with `n` containers each probed
// by exec every 10 s (next to figure 5's idle one), and the time from a new digest being
// pushed under a followed tag until the container runs on it (--auto-update-interval 1s),
// against a real registry on loopback, as the integration tests use.

import { benchSpec, until, waitRows, type Bench } from './env.js';
import { cpuMs } from './proc.js';
import type { Figure } from './report.js';
import { since, summarize } from './stats.js';
import { delay } from './env.js';
import { pushBusybox, startRegistry } from '../test/harness/registry.js';
import { pushVariant } from '../test/harness/variant.js';

export interface HealthConfig {
  n: number;
  cpuWindows: number;
  cpuWindowMs: number;
  workers: number;
}

export async function healthCpuFigure(bench: Bench, cfg: HealthConfig, progress: (m: string) => void): Promise<Figure> {
  const phase = await bench.phase('health');
  try {
    const c = await phase.converge(['--workers', String(cfg.workers)]);
    for (let i = 0; i < cfg.n; i++) phase.write(`h-${i}`, benchSpec(`h-${i}`, { healthCheck: { exec: ['true'], periodSeconds: 10 } }));
    // Healthy means each has been probed once: the wheel has placed all of them.
    await waitRows(c, (rows) => rows.length === cfg.n && rows.every((r) => r.phase === 'Running' && r.health === 'Healthy'), `${cfg.n} containers Healthy`);
    progress(`${cfg.n} containers Healthy; measuring CPU with probes running`);
    await delay(5_000);
    const perMinute: number[] = [];
    const probes0 = await probesCounted(c);
    const t00 = performance.now();
    for (let w = 0; w < cfg.cpuWindows; w++) {
      const cpu0 = cpuMs(c.pid);
      const t0 = performance.now();
      await delay(cfg.cpuWindowMs);
      perMinute.push(Math.round(((cpuMs(c.pid) - cpu0) * 60_000) / (performance.now() - t0)));
    }
    const probesPerMinute = Math.round((((await probesCounted(c)) - probes0) * 60_000) / (performance.now() - t00));
    return {
      id: 'steady.cpu.probed',
      group: '5. Steady state',
      name: `CPU of converge, ${cfg.n} containers each probed every 10 s by exec`,
      unit: 'CPU ms/min',
      converge: summarize(perMinute),
      how:
        `As the idle figure (utime+stime from /proc, ${cfg.cpuWindows} windows of ${cfg.cpuWindowMs / 1000} s, each scaled to a minute), ` +
        `with healthCheck {exec: [true], periodSeconds: 10} on each of ${cfg.n} containers: ${probesPerMinute} probes a minute counted ` +
        '(converge_health_probes_total). Each probe is Tasks.Exec, Start, Wait, DeleteProcess and a read of its output file; ' +
        "runc's own exec is the shim's CPU, not converge's.",
    };
  } finally {
    await phase.cleanup();
  }
}

async function probesCounted(c: { http(p: string): Promise<{ body: string }> }): Promise<number> {
  const body = (await c.http('/metrics')).body;
  return [...body.matchAll(/^converge_health_probes_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

export interface UpdateConfig {
  runs: number;
}

export async function updateFigure(bench: Bench, cfg: UpdateConfig, progress: (m: string) => void): Promise<Figure> {
  const registry = await startRegistry();
  const phase = await bench.phase('update');
  try {
    await pushBusybox(registry, 'app', 'base');
    const image = `${registry.host}/app:latest`;
    let digest = await pushVariant(registry, 'app', 'latest', 'base', 'v0');
    const c = await phase.converge(['--auto-update-interval', '1s', '--auto-update-rollback-window', '2s']);
    phase.write('app', benchSpec('app', { image, imagePullPolicy: 'Always', autoUpdate: 'registry' }));
    await waitRows(c, (rows) => rows[0]?.phase === 'Running' && rows[0].imageDigest === digest, 'app running on the first digest');
    const ms: number[] = [];
    for (let run = 1; run <= cfg.runs; run++) {
      // Each run starts from a finished update: no rollback window open.
      await waitRows(c, (rows) => rows[0]?.updatePhase === 'Idle', 'no update under way');
      digest = await pushVariant(registry, 'app', 'latest', 'base', `v${run}`);
      const start = performance.now();
      await until(async () => {
        const row = await c.row('app');
        return row?.phase === 'Running' && row.imageDigest === digest && row.pid !== null ? row : undefined;
      }, `app running on ${digest}`, 120_000, () => c.tail());
      ms.push(since(start));
      progress(`update ${run}: running on the new digest after ${ms.at(-1)} ms`);
    }
    return {
      id: 'update.follow',
      group: '7. Auto-update',
      name: 'new digest pushed under the tag → container running on it',
      unit: 'ms',
      converge: summarize(ms),
      how:
        'autoUpdate: registry with --auto-update-interval 1s against docker-registry on loopback; from the manifest PUT of an image ' +
        'that adds one small layer to the running one until /v1/status (polled) shows the container Running on the new digest: ' +
        'up to one interval of waiting, the HEAD that finds it, the pull by digest (one new layer), stop (SIGKILL), create and start.',
    };
  } finally {
    await phase.cleanup();
    await registry.cleanup();
  }
}
