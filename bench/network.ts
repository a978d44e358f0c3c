// Figure 7: the cost of networking. A cold converge of N bridge containers, each publishing
// a port on 127.0.0.1, next to the same N on network: none in the same run (the baseline
// column), and their teardown until nothing of them is left, the network's records and
// addresses included. The bridge and its subnet are the bench's own, removed at the end.

import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_PLUGIN_DIRS } from '../src/cli/net-flags.js';
import type { ContainerSpecBody } from '../src/spec/types.js';
import { testBridge } from '../test/harness/hostnet.js';
import { freePort } from '../test/harness/net.js';
import { allRunning, benchSpec, waitReadyz, waitRows, type Bench, type Phase } from './env.js';
import type { Figure } from './report.js';
import { since, summarize } from './stats.js';
import { until } from './env.js';

export interface NetConfig {
  n: number;
  runs: number;
  workers: number;
}

interface Sample {
  up: number;
  down: number;
}

const name = (i: number): string => `n-${i}`;

/** `count` ports nobody listens on now, all different. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

async function oneRun(phase: Phase, n: number, cfg: NetConfig, body: (i: number) => Partial<ContainerSpecBody>, args: string[]): Promise<Sample> {
  const c = await phase.converge(['--workers', String(cfg.workers), ...args]);
  try {
    await waitReadyz(c, 60_000);
    let start = performance.now();
    for (let i = 0; i < n; i++) phase.write(name(i), benchSpec(name(i), body(i)));
    const bridged = phase.network !== undefined;
    await waitRows(c, (rows) => allRunning(n)(rows) && (!bridged || rows.every((r) => r.ip !== null)), `${n} containers running`);
    const up = since(start);
    start = performance.now();
    for (let i = 0; i < n; i++) phase.remove(name(i));
    await phase.waitEmpty();
    if (bridged) {
      // Nothing left of the network either: no record (so no DEL pending), no address.
      const dir = path.join(phase.stateDir, 'network');
      await until(
        async () => entries(path.join(dir, 'results')).length === 0 && entries(path.join(dir, 'ipam', phase.network!.bridge)).every((f) => !/^\d/.test(f)),
        'the network empty',
        120_000,
        () => entries(path.join(dir, 'results')).join(' '),
      );
    }
    return { up, down: since(start) };
  } finally {
    await c.stop();
  }
}

export async function networkFigures(bench: Bench, cfg: NetConfig, progress: (msg: string) => void): Promise<Figure[]> {
  const { bridge, subnet } = await testBridge();
  const bridgedPhase = await bench.phase('bridge', { bridge, subnet, pluginDirs: DEFAULT_PLUGIN_DIRS });
  const plainPhase = await bench.phase('none');
  const ports = await freePorts(cfg.n);
  const withPort = (i: number): Partial<ContainerSpecBody> => ({ network: 'bridge', ports: [{ containerPort: 8080, hostPort: ports[i], hostIP: '127.0.0.1' }] });
  const bridgeArgs = ['--bridge-name', bridge, '--bridge-subnet', subnet];
  const b: Sample[] = [];
  const p: Sample[] = [];
  try {
    for (let run = 0; run < cfg.runs; run++) {
      // Alternate who goes first, so a slow patch of the machine does not favour one side.
      for (const who of run % 2 === 0 ? ['bridge', 'none'] : ['none', 'bridge']) {
        if (who === 'bridge') b.push(await oneRun(bridgedPhase, cfg.n, cfg, withPort, bridgeArgs));
        else p.push(await oneRun(plainPhase, cfg.n, cfg, () => ({}), []));
      }
      progress(`network N=${cfg.n} run ${run + 1}: bridge up ${b.at(-1)!.up} ms down ${b.at(-1)!.down} ms; none up ${p.at(-1)!.up} ms down ${p.at(-1)!.down} ms`);
    }
  } finally {
    await bridgedPhase.cleanup();
    await plainPhase.cleanup();
    try {
      execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
    } catch {
      // never made (the run failed before a container was attached)
    }
  }
  return figures(cfg, b, p, bridge);
}

function figures(cfg: NetConfig, b: Sample[], p: Sample[], bridge: string): Figure[] {
  const group = '7. Networking';
  const compare = (pick: (s: Sample) => number) => {
    const converge = summarize(b.map(pick));
    const baseline = summarize(p.map(pick));
    return { converge, baseline, ratio: converge.median / baseline.median };
  };
  return [
    {
      id: `network.up.${cfg.n}`,
      group,
      name: `${cfg.n} bridge containers, a published port each, dropped → all running (baseline: the same ${cfg.n} on network: none)`,
      unit: 'ms',
      ...compare((s) => s.up),
      how:
        `converge (idle, ready, --workers ${cfg.workers}, its own bridge ${bridge}) watching an empty dir; ${cfg.n} spec files (sleep 3600, network: bridge, ` +
        `ports: one 127.0.0.1 hostPort each) written at once; until /v1/status shows ${cfg.n} rows Running with a pid and an IP. Each is a netns, ` +
        `the loopback, bridge (host-local), portmap and firewall plugins, /etc/hosts for all its peers. Baseline: the same ${cfg.n} specs without ` +
        'the network fields, by another converge in the same run, in alternating order.',
    },
    {
      id: `network.down.${cfg.n}`,
      group,
      name: `${cfg.n} bridge containers removed → nothing left (baseline: network: none)`,
      unit: 'ms',
      ...compare((s) => s.down),
      how:
        `All ${cfg.n} spec files deleted at once; until containerd holds none of them and the network has no record and no address left ` +
        '(the DELs done, in reverse plugin order). Baseline: the same for the network: none containers.',
    },
  ];
}
