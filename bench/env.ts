// The bench's world, built the way the integration tests build theirs: one private
// containerd, a fresh containerd namespace with the busybox image per phase, spec and state
// dirs, converge as a child process exactly as a user runs it, and a probe that reads what
// containerd itself holds (containers, tasks, active snapshots).

import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { ContainerdClient } from '../src/containerd/client.js';
import { ContainersService } from '../src/containerd/containers.js';
import { createContainerdRuntime, type ContainerdRuntime } from '../src/containerd/runtime.js';
import type { NetworkSettings } from '../src/containerd/netglue.js';
import { SnapshotsService } from '../src/containerd/snapshots.js';
import { TasksService } from '../src/containerd/tasks.js';
import type { StatusRow } from '../src/reconcile/status.js';
import type { ContainerSpec, ContainerSpecBody } from '../src/spec/types.js';
import { ctr } from '../test/harness/exec.js';
import { waitFor } from '../test/harness/wait.js';
import { container, Converge, Env, removeSpec, writeSpec } from '../test/integration/util.js';
import { BenchError } from './errors.js';

export { Converge };

/** How often the bench looks at a condition it waits for, at first (the figures' resolution). */
export const POLL_MS = 10;

/**
 * Waits until `check` returns something truthy, looking after 10 ms and then at gaps of 2%
 * of the time waited so far (at most 250 ms): a 200 ms latency is resolved to ~10 ms and a
 * 10 s cold start to ~2%, while the looking (an HTTP request to converge, or a listing
 * from containerd) stays a small share of what is measured on a 2-core machine. Figures
 * that measure no latency pass a larger `minGapMs`, so converge's answers are not a
 * large part of what it allocates.
 */
export async function until<T>(
  check: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs: number,
  detail: () => string,
  minGapMs = POLL_MS,
): Promise<T> {
  // A check that throws (converge or containerd briefly away) counts as not yet.
  return (await waitFor(check, {
    what,
    timeoutMs,
    detail,
    intervalMs: (waited) => Math.min(Math.max(250, minGapMs), Math.max(minGapMs, waited * 0.02)),
    timeoutError: (message, cause) => new BenchError('BENCH_TIMEOUT', message, { cause }),
  })) as T;
}

const quietLog = pino({ level: 'silent' });

/**
 * The container every figure uses: `sleep 3600`, as the ctr baseline runs it; the image is
 * imported, never pulled (a `:latest` tag would default to imagePullPolicy Always). stopSignal
 * SIGKILL because a plain sleep as PID 1 ignores SIGTERM (it would hold every stop for its
 * whole grace period) and the baseline removes with SIGKILL too.
 */
export function benchSpec(name: string, extra: Partial<ContainerSpecBody> = {}): ContainerSpec {
  return container(name, { imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'], stopSignal: 'SIGKILL', ...extra });
}

export interface Contents {
  containers: number;
  tasks: number;
  /** Snapshots other than the image's committed layers. */
  snapshots: number;
}

/** One private containerd for the whole run: the integration tests' Env, cut into phases. */
export class Bench {
  private constructor(private readonly env: Env) {}

  static async start(): Promise<Bench> {
    return new Bench(await Env.start('converge-bench-'));
  }

  get address(): string {
    return this.env.address;
  }

  /** A fresh namespace (with the image), spec dir and state dir; `network`: the bridge its converge runs with. */
  async phase(prefix: string, network?: NetworkSettings): Promise<Phase> {
    const { namespace, dir } = await this.env.fresh(`bench-${prefix}`);
    return new Phase(this, namespace, dir, network);
  }

  close(): Promise<void> {
    return this.env.cleanup();
  }
}

export class Phase {
  readonly specDir: string;
  readonly stateDir: string;
  /** converge's own Runtime, for setting up and reading containerd. */
  readonly runtime: ContainerdRuntime;
  private readonly client: ContainerdClient;
  private readonly started: Converge[] = [];

  constructor(readonly bench: Bench, readonly namespace: string, readonly dir: string, readonly network?: NetworkSettings) {
    this.specDir = path.join(dir, 'specs');
    this.stateDir = path.join(dir, 'state');
    mkdirSync(this.specDir);
    mkdirSync(this.stateDir);
    this.runtime = createContainerdRuntime({ address: bench.address, namespace, stateDir: this.stateDir, log: quietLog, timeoutMs: 60_000 });
    this.client = new ContainerdClient({ address: bench.address, namespace, timeoutMs: 60_000 });
  }

  /** Writes a spec file: moved into place (temp file + rename), or written in place. */
  write(name: string, spec: ContainerSpec, opts: { inPlace?: boolean } = {}): void {
    writeSpec(this.specDir, `${name}.yaml`, spec, opts);
  }

  remove(name: string): void {
    removeSpec(this.specDir, `${name}.yaml`);
  }

  /**
   * Starts `converge run` on this phase's dirs; resolves once its server listens. Teardown
   * phases remove every file, which an emptied directory would hold: --allow-empty.
   */
  async converge(args: string[] = []): Promise<Converge> {
    const all = ['--allow-empty', `dir:${this.specDir}`, ...args];
    const c = await Converge.start({ dirs: [this.specDir], stateDir: this.stateDir, address: this.bench.address, namespace: this.namespace, args: all });
    this.started.push(c);
    return c;
  }

  ctr(args: string[], timeoutMs = 60_000): Promise<{ stdout: string }> {
    return ctr(this.bench.address, args, { namespace: this.namespace, timeoutMs });
  }

  async contents(): Promise<Contents> {
    const [cs, ts, ss] = await Promise.all([
      new ContainersService(this.client).list(),
      new TasksService(this.client).list(),
      new SnapshotsService(this.client).list('overlayfs'),
    ]);
    return { containers: cs.length, tasks: ts.length, snapshots: ss.filter((s) => s.kind !== 'committed').length };
  }

  /** Waits until containerd holds nothing of this phase but the image. */
  async waitEmpty(timeoutMs = 300_000): Promise<void> {
    let last: Contents | undefined;
    await until(
      async () => {
        last = await this.contents();
        return last.containers === 0 && last.tasks === 0 && last.snapshots === 0;
      },
      `${this.namespace} empty`,
      timeoutMs,
      () => `still there: ${JSON.stringify(last)}`,
    );
  }

  /** Stops every converge it started, removes what is left in containerd and the dirs. */
  async cleanup(): Promise<void> {
    for (const c of this.started) await c.stop().catch(() => c.kill());
    // With a bridge, removed through a runtime that has it (now that converge is stopped),
    // so that the network goes too.
    const remover = this.network
      ? createContainerdRuntime({ address: this.bench.address, namespace: this.namespace, stateDir: this.stateDir, log: quietLog, timeoutMs: 60_000, network: this.network })
      : this.runtime;
    try {
      const all = await remover.list();
      await pool(all, 8, (c) => remover.remove(c.id, 'SIGKILL', 0));
    } finally {
      if (remover !== this.runtime) remover.close();
      this.runtime.close();
      this.client.close();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** Runs `fn` over `items`, at most `width` at a time (the baseline's "same parallelism"). */
export async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
}

/** Polls converge's /v1/status until `pred` holds; returns the rows. */
export function waitRows(c: Converge, pred: (rows: StatusRow[]) => boolean, what: string, timeoutMs = 300_000, minGapMs = POLL_MS): Promise<StatusRow[]> {
  let last: StatusRow[] = [];
  return until(
    async () => {
      last = await c.status();
      return pred(last) ? last : undefined;
    },
    what,
    timeoutMs,
    () => `phases: ${JSON.stringify(countPhases(last))}\n${c.tail()}`,
    minGapMs,
  );
}

/** Polls /readyz until it answers 200. */
export function waitReadyz(c: Converge, timeoutMs = 300_000): Promise<true> {
  return until(async () => (await c.http('/readyz')).status === 200 || undefined, '/readyz 200', timeoutMs, () => c.tail());
}

export const allRunning = (n: number) => (rows: StatusRow[]): boolean =>
  rows.length === n && rows.every((r) => r.phase === 'Running' && r.pid !== null);

function countPhases(rows: StatusRow[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[r.phase] = (out[r.phase] ?? 0) + 1;
  return out;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
