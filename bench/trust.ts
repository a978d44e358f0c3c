// Figure 7: what trust costs. The policy check per spec (the gate the desired store asks at
// every read of a source: rule lookup by glob, the level's checks, a bind source resolved
// on the real file system), and seccomp on a container's start: `ctr run -d` with
// converge's own profile next to the same run with no filter, on the same containerd.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { seccompProfile } from '../src/containerd/seccomp.js';
import { DEFAULT_CAPABILITIES } from '../src/spec/capabilities.js';
import { admit } from '../src/policy/gate.js';
import type { Policy } from '../src/policy/types.js';
import { toDesired } from '../src/spec/resolve.js';
import { BUSYBOX_IMAGE } from '../test/harness/image.js';
import { benchSpec, type Bench } from './env.js';
import type { Figure } from './report.js';
import { since, summarize } from './stats.js';
import { BenchError } from './errors.js';

export interface TrustConfig {
  /** Specs per policy-check sample. */
  specs: number;
  runs: number;
  /** Container starts per seccomp sample series. */
  starts: number;
}

/** Figure 7a: admit() of `specs` Git specs with a bind mount each, under a 3-rule policy. */
export function policyFigure(root: string, cfg: TrustConfig): Figure {
  const prefix = path.join(root, 'srv', 'app');
  mkdirSync(path.join(prefix, 'data'), { recursive: true });
  const policy: Policy = {
    file: 'bench-policy.yaml',
    rules: [
      { sources: ['git:https://git.example.com/ops/**'], level: 'privileged' },
      { sources: ['kube:team-*'], level: 'restricted' },
      { sources: ['git:https://git.example.com/**'], level: 'baseline', allow: { bindMounts: [{ pathPrefix: prefix }] } },
    ],
  };
  const source = 'git:https://git.example.com/fleet.git';
  const specs = Array.from({ length: cfg.specs }, (_, i) =>
    toDesired(benchSpec(`p-${i}`, { mounts: [{ type: 'bind', source: `${prefix}/data`, target: '/data', readOnly: true }] }), `${source}:specs/p-${i}.yaml`),
  );
  const once = (): void => {
    for (const spec of specs) if (!admit(policy, spec, source).ok) throw new BenchError('BENCH_UNEXPECTED_STATE', `${spec.key} denied`);
  };
  for (let i = 0; i < 3; i++) once(); // warm up the JIT
  const samples: number[] = [];
  for (let i = 0; i < cfg.runs; i++) {
    const start = performance.now();
    once();
    samples.push(Math.round(((performance.now() - start) / cfg.specs) * 1000) / 1000);
  }
  return {
    id: 'trust.policy.spec',
    group: '7. Trust',
    name: 'policy check, per spec (baseline rule, one bind source resolved)',
    unit: 'ms',
    converge: summarize(samples),
    how: `\`admit()\` of src/policy/gate.ts in the bench process over ${cfg.specs} Git specs, each with a bind mount under the allowed prefix (resolved on disk, lstat per component), the third of three rules matching; the time of a pass divided by ${cfg.specs}, ${cfg.runs} passes after 3 warm-up passes.`,
  };
}

/** Figure 7b: `ctr run -d` until started, with converge's seccomp profile and with none. */
export async function seccompFigure(bench: Bench, cfg: TrustConfig): Promise<Figure> {
  const phase = await bench.phase('seccomp');
  try {
    const profile = path.join(phase.stateDir, 'seccomp.json');
    writeFileSync(profile, JSON.stringify(seccompProfile(DEFAULT_CAPABILITIES)));
    const logs = path.join(phase.stateDir, 'ctr-logs');
    mkdirSync(logs, { recursive: true });
    const series = async (label: string, extra: string[]): Promise<number[]> => {
      const samples: number[] = [];
      for (let i = 0; i < cfg.starts; i++) {
        const id = `${label}-${i}`;
        const start = performance.now();
        await phase.ctr(['run', '-d', ...extra, '--log-uri', `file://${logs}/${id}.log`, BUSYBOX_IMAGE, id, 'sleep', '3600']);
        samples.push(since(start));
        await phase.ctr(['tasks', 'rm', '-f', id]);
        await phase.ctr(['containers', 'rm', id]);
      }
      return samples;
    };
    // Interleaved halves, so that a busy moment of the machine does not land on one side only.
    const filtered: number[] = [];
    const plain: number[] = [];
    for (let half = 0; half < 2; half++) {
      filtered.push(...(await series(`sec${half}`, ['--seccomp', '--seccomp-profile', profile])));
      plain.push(...(await series(`none${half}`, [])));
    }
    const converge = summarize(filtered, { percentiles: true });
    const baseline = summarize(plain, { percentiles: true });
    return {
      id: 'trust.seccomp.start',
      group: '7. Trust',
      name: 'container start with converge\'s seccomp profile (baseline: no filter)',
      unit: 'ms',
      converge,
      baseline,
      ratio: Math.round((converge.median / baseline.median) * 100) / 100,
      how: `\`ctr run -d\` of busybox \`sleep 3600\` until it returns (task started), ${2 * cfg.starts} times with \`--seccomp --seccomp-profile\` converge's profile (src/containerd/seccomp.ts, default capabilities) and ${2 * cfg.starts} without a filter, in alternating series on the bench's containerd; both runs start the same way, so the difference is runc loading the filter.`,
    };
  } finally {
    await phase.cleanup();
  }
}
