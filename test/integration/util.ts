// Shared helpers of the end-to-end tests: one private containerd (with the busybox image)
// per test file, a fresh containerd namespace + spec dir + state dir per test, spec files,
// and what containerd itself says (through converge's own Runtime, and through ctr). The
// converge process is in converge.ts, waiting in ../harness/wait.ts; tests import all of it
// from here.

import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { dump } from 'js-yaml';
import { pino } from 'pino';
import { createContainerdRuntime, type ContainerdRuntime } from '../../src/containerd/runtime.js';
import type { NetworkSettings } from '../../src/containerd/netglue.js';
import type { ContainerSpec, ContainerSpecBody } from '../../src/spec/types.js';
import { containerDoc, sh } from '../harness/specs.js';
import type { ActualContainer } from '../../src/reconcile/runtime.js';
import { startContainerd, uniqueNamespace, type PrivateContainerd } from '../harness/containerd.js';
import { ctr } from '../harness/exec.js';
import { BUSYBOX_IMAGE, importBusybox } from '../harness/image.js';
import { Converge } from './converge.js';
import { waitFor } from '../harness/wait.js';
import { logText } from '../harness/logs.js';

export * from './converge.js';
export * from '../harness/wait.js';

export const IMAGE = BUSYBOX_IMAGE;

// ---------------------------------------------------------------------------- specs

export { sh };

/**
 * A long-running script that prints `marker` and exits at once on SIGTERM (a plain
 * `sleep` as PID 1 ignores TERM, and would hold every stop for its whole grace period).
 */
export const sleeper = (marker = ''): Partial<ContainerSpecBody> =>
  sh(`${marker ? `echo ${marker}; ` : ''}trap 'exit 0' TERM; sleep 3600 & wait`);

/** A Container document with the test image. */
export function container(name: string, body: Partial<ContainerSpecBody> = {}, meta: Partial<ContainerSpec['metadata']> = {}): ContainerSpec {
  // The test image is imported, with no registry behind it: ":latest" would default to Always.
  return containerDoc(name, { image: IMAGE, imagePullPolicy: 'IfNotPresent', ...body }, meta);
}

/**
 * Writes a spec file: one document, several (a multi-document file), or raw text. Written
 * aside and renamed into place, as most tools save, unless `inPlace`.
 */
export function writeSpec(dir: string, name: string, body: ContainerSpec | ContainerSpec[] | string, opts: { inPlace?: boolean } = {}): string {
  const text = typeof body === 'string' ? body : (Array.isArray(body) ? body : [body]).map((d) => dump(d)).join('---\n');
  const file = path.join(dir, name);
  if (opts.inPlace) {
    writeFileSync(file, text);
  } else {
    const tmp = path.join(dir, `.${name}.${process.pid}.tmp`); // hidden: the source ignores it
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  }
  return file;
}

export function removeSpec(dir: string, name: string): void {
  unlinkSync(path.join(dir, name));
}

// ---------------------------------------------------------------------------- containerd

export interface CtrTask {
  id: string;
  pid: number;
  status: string;
}

/** One containerd per test file (or bench run): start it in `before`, clean up in `after`. */
export class Env {
  private constructor(readonly cd: PrivateContainerd, readonly root: string) {}

  static async start(tmpPrefix = 'converge-it-'): Promise<Env> {
    const cd = await startContainerd();
    return new Env(cd, mkdtempSync(path.join(os.tmpdir(), tmpPrefix)));
  }

  get address(): string {
    return this.cd.address;
  }

  /** A fresh containerd namespace holding the test image, and a dir of its own. */
  async fresh(prefix: string): Promise<{ namespace: string; dir: string }> {
    const namespace = uniqueNamespace(prefix);
    await importBusybox(this.cd.address, namespace);
    return { namespace, dir: mkdtempSync(path.join(this.root, `${prefix}-`)) };
  }

  /**
   * A fresh namespace with the image, spec dir and state dir, torn down after the test.
   * With `network` (the bridge converge runs with), the teardown detaches what it attached.
   */
  async scenario(t: TestContext, prefix = 'it', network?: NetworkSettings): Promise<Scenario> {
    const { namespace, dir } = await this.fresh(prefix);
    const s = new Scenario(this, namespace, dir, network);
    t.after(() => s.cleanup());
    return s;
  }

  async cleanup(): Promise<void> {
    try {
      await this.cd?.cleanup();
    } finally {
      rmSync(this.root, { recursive: true, force: true });
    }
  }
}

const quietLog = pino({ level: 'silent' });

/** One test's world: its namespace, its spec dir and state dir, the convergers it started. */
export class Scenario {
  readonly specDir: string;
  readonly stateDir: string;
  /** converge's own Runtime, to read what containerd has (never to change it). */
  readonly runtime: ContainerdRuntime;
  private readonly started: Converge[] = [];

  constructor(readonly env: Env, readonly namespace: string, readonly dir: string, readonly network?: NetworkSettings) {
    this.specDir = path.join(dir, 'specs');
    this.stateDir = path.join(dir, 'state');
    mkdirSync(this.specDir);
    mkdirSync(this.stateDir);
    this.runtime = createContainerdRuntime({ address: env.address, namespace, stateDir: this.stateDir, log: quietLog });
  }

  /** Starts converge on this scenario's dir (or `dirs`) with extra flags. */
  async run(args: string[] = [], dirs: string[] = [this.specDir], env?: Record<string, string>): Promise<Converge> {
    const c = await Converge.start({ dirs, stateDir: this.stateDir, address: this.env.address, namespace: this.namespace, args, env });
    this.started.push(c);
    return c;
  }

  write(name: string, body: ContainerSpec | ContainerSpec[] | string, opts?: { inPlace?: boolean }): string {
    return writeSpec(this.specDir, name, body, opts);
  }

  remove(name: string): void {
    removeSpec(this.specDir, name);
  }

  /** Runs ctr against this containerd and namespace; returns stdout. */
  async ctr(args: string[]): Promise<string> {
    return (await ctr(this.env.address, args, { namespace: this.namespace })).stdout;
  }

  /** Container IDs as `ctr containers ls -q` lists them. */
  async containerIds(): Promise<string[]> {
    return lines(await this.ctr(['containers', 'ls', '-q'])).sort();
  }

  /** Tasks as `ctr tasks ls` lists them. */
  async tasks(): Promise<CtrTask[]> {
    return lines(await this.ctr(['tasks', 'ls']))
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .map(([id, pid, status]) => ({ id, pid: Number(pid), status: status.toLowerCase() }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  async task(id: string): Promise<CtrTask | undefined> {
    return (await this.tasks()).find((t) => t.id === id);
  }

  /** Snapshot keys of the overlayfs snapshotter, leaving out the image's own layers. */
  async snapshotKeys(): Promise<string[]> {
    return lines(await this.ctr(['snapshots', 'ls']))
      .slice(1)
      .map((l) => l.trim().split(/\s+/)[0])
      .filter((k) => !k.startsWith('sha256:'))
      .sort();
  }

  /** Everything containerd has of a container: record, task, snapshot. */
  async inContainerd(id: string): Promise<{ container: boolean; task: CtrTask | undefined; snapshot: boolean }> {
    const [ids, task, snaps] = await Promise.all([this.containerIds(), this.task(id), this.snapshotKeys()]);
    return { container: ids.includes(id), task, snapshot: snaps.includes(id) };
  }

  /** The container as converge's Runtime reads it (labels, task status, pid). */
  get(id: string): Promise<ActualContainer | undefined> {
    return this.runtime.get(id);
  }

  /** Waits until the task of `id` runs (per containerd) and returns its pid. */
  async waitRunning(id: string, opts: { timeoutMs?: number; notPid?: number; converge?: Converge } = {}): Promise<number> {
    let last: ActualContainer | undefined;
    const c = await waitFor(
      async () => {
        last = await this.get(id);
        const t = last?.task;
        return t?.status === 'running' && t.pid > 0 && t.pid !== opts.notPid ? last : undefined;
      },
      {
        what: `${id} running${opts.notPid ? ` with a pid other than ${opts.notPid}` : ''}`,
        timeoutMs: opts.timeoutMs,
        detail: () => `containerd: ${JSON.stringify(last)}\n${opts.converge?.tail() ?? ''}`,
      },
    );
    return c.task!.pid;
  }

  /** Waits until nothing of `id` is left in containerd: no container, task or snapshot. */
  async waitGone(id: string, timeoutMs = 20_000): Promise<void> {
    let last: unknown;
    await waitFor(
      async () => {
        const s = await this.inContainerd(id);
        last = s;
        return !s.container && !s.task && !s.snapshot;
      },
      { what: `${id} gone from containerd`, timeoutMs, detail: () => `still there: ${JSON.stringify(last)}` },
    );
  }

  /** The text of a container's task log (stdout and stderr, without the CRI prefixes). */
  logOf(id: string): string {
    return logText(this.runtime.logPath(id));
  }

  async cleanup(): Promise<void> {
    for (const c of this.started) await c.stop().catch(() => c.kill());
    // Whatever the test left running goes, so the next test starts on an idle machine. With
    // a bridge, through a runtime that has it (made only now: converge has stopped, and two
    // runtimes must not collect one state dir's network at once), so that nothing of the
    // network is left either.
    const remover = this.network
      ? createContainerdRuntime({ address: this.env.address, namespace: this.namespace, stateDir: this.stateDir, log: quietLog, network: this.network })
      : this.runtime;
    try {
      // Every removal ends before the directory goes (a mounted namespace would hold it). A
      // task whose shim was killed answers "ttrpc: closed" on containerd 2.x until containerd
      // has noticed the dead shim: such a removal is tried again, as converge would.
      let failed: unknown[] = [];
      await waitFor(
        async () => {
          const all = await remover.list();
          const results = await Promise.allSettled(all.map((c) => remover.remove(c.key, 'SIGKILL', 0)));
          failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
          return failed.length === 0;
        },
        { what: 'every container of the test removed', timeoutMs: 15_000 },
      ).catch(() => undefined);
      if (failed.length > 0) throw new AggregateError(failed, `${failed.length} containers not removed`);
    } finally {
      if (remover !== this.runtime) remover.close();
      this.runtime.close();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}
