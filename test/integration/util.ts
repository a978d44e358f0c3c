// Shared helpers of the end-to-end tests: one private containerd (with the busybox image)
// per test file, a fresh containerd namespace + spec dir + state dir per test, converge run
// as a child process exactly as a user runs it, its JSON log lines and /v1/status, and what
// containerd itself says (through converge's own Runtime, and through ctr).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { dump } from 'js-yaml';
import { pino } from 'pino';
import { createContainerdRuntime, type ContainerdRuntime } from '../../src/containerd/runtime.js';
import type { StatusRow } from '../../src/reconcile/status.js';
import type { ContainerSpec, ContainerSpecBody } from '../../src/spec/types.js';
import type { ActualContainer } from '../../src/types.js';
import { startContainerd, uniqueNamespace, type PrivateContainerd } from '../harness/containerd.js';
import { ctr } from '../harness/exec.js';
import { register, unregister } from '../harness/exitnet.js';
import { BUSYBOX_IMAGE, importBusybox } from '../harness/image.js';

/** The compiled CLI (this file runs from dist/test/integration/). */
export const MAIN = path.resolve(import.meta.dirname, '../../src/cli/main.js');
export const IMAGE = BUSYBOX_IMAGE;
export const STATE_FILE = 'converge.json';

// ---------------------------------------------------------------------------- waiting

export interface WaitOptions {
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
  /** Extra context for the failure message (e.g. converge's last log lines). */
  detail?: () => string | Promise<string>;
}

/**
 * Polls until `predicate` returns something truthy and returns it. A predicate that throws
 * counts as "not yet" (containerd or the server may be briefly away); its last error is in
 * the failure message.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, opts: WaitOptions): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const extra = opts.detail ? `\n${await opts.detail()}` : '';
      const why = lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what}${why}${extra}`);
    }
    await delay(opts.intervalMs ?? 25);
  }
}

/**
 * Checks that `check` keeps holding for `ms` (for "nothing happens" claims: no restart, no
 * removal). Fails at the first observation where it does not.
 */
export async function holds(check: () => void | Promise<void>, ms: number, intervalMs = 100): Promise<void> {
  const end = Date.now() + ms;
  do {
    await check();
    await delay(intervalMs);
  } while (Date.now() < end);
  await check();
}

// ---------------------------------------------------------------------------- specs

export const sh = (script: string): Partial<ContainerSpecBody> => ({ command: ['/bin/sh', '-c'], args: [script] });

/**
 * A long-running script that prints `marker` and exits at once on SIGTERM (a plain
 * `sleep` as PID 1 ignores TERM, and would hold every stop for its whole grace period).
 */
export const sleeper = (marker = ''): Partial<ContainerSpecBody> =>
  sh(`${marker ? `echo ${marker}; ` : ''}trap 'exit 0' TERM; sleep 3600 & wait`);

/** A Container document with the test image. */
export function container(name: string, body: Partial<ContainerSpecBody> = {}, meta: Partial<ContainerSpec['metadata']> = {}): ContainerSpec {
  return {
    apiVersion: 'converge.dev/v1alpha1',
    kind: 'Container',
    metadata: { name, ...meta },
    spec: { image: IMAGE, ...body },
  };
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

// ---------------------------------------------------------------------------- log lines

export interface LogLine {
  level: number;
  time: string;
  msg: string;
  key?: string;
  action?: string;
  reason?: string;
  pid?: number;
  [field: string]: unknown;
}

export const timeOf = (line: LogLine): number => Date.parse(line.time);

// ---------------------------------------------------------------------------- converge

export interface RunOptions {
  dirs: string[];
  stateDir: string;
  address: string;
  namespace: string;
  /** e.g. ['--resync', '1s', '--backoff-initial', '50ms']. */
  args?: string[];
}

/** One `converge run` child process. */
export class Converge {
  readonly lines: LogLine[] = [];
  /** Non-JSON output (a crash trace, say), kept for failure messages. */
  readonly raw: string[] = [];
  listen = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  private readonly exited: Promise<void>;
  private readonly net = { cleanupSync: () => this.child.kill('SIGKILL') };

  private constructor(readonly child: ChildProcess, readonly opts: RunOptions) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, sig) => {
        this.exitCode = code;
        this.exitSignal = sig;
        unregister(this.net);
        resolve();
      });
    });
    register(this.net); // a test process that dies takes converge with it
    const collect = (stream: NodeJS.ReadableStream) =>
      createInterface({ input: stream }).on('line', (text) => {
        try {
          this.lines.push(JSON.parse(text) as LogLine);
        } catch {
          this.raw.push(text);
        }
      });
    if (child.stderr) collect(child.stderr);
    if (child.stdout) collect(child.stdout);
  }

  /** Spawns converge and returns once its server is up (it wrote its state file). */
  static async start(opts: RunOptions): Promise<Converge> {
    const args = [MAIN, 'run', ...opts.dirs.flatMap((d) => ['--dir', d]), '--state-dir', opts.stateDir,
      '--containerd-address', opts.address, '--namespace', opts.namespace, '--listen', '127.0.0.1:0', ...(opts.args ?? [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const c = new Converge(child, opts);
    const stateFile = path.join(opts.stateDir, STATE_FILE);
    const state = await waitFor(
      () => {
        if (c.exited_) throw new Error(`converge exited (${c.exitCode ?? c.exitSignal})`);
        if (!existsSync(stateFile)) return undefined;
        const s = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number; listen: string | null };
        return s.pid === child.pid ? s : undefined; // a state file left by a killed run is not ours
      },
      { what: 'converge to write its state file', timeoutMs: 15_000, detail: () => c.tail() },
    );
    c.listen = state.listen ?? '';
    return c;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  private get exited_(): boolean {
    return this.exitCode !== null || this.exitSignal !== null;
  }

  get running(): boolean {
    return !this.exited_;
  }

  /** The last lines of its output, for failure messages. */
  tail(n = 40): string {
    const out = this.lines.slice(-n).map((l) => JSON.stringify(l));
    return ['--- converge log tail ---', ...out, ...this.raw.slice(-10)].join('\n');
  }

  find(pred: (l: LogLine) => boolean, since = 0): LogLine[] {
    return this.lines.slice(since).filter(pred);
  }

  /** The first log line at index >= `since` that matches. */
  waitLog(pred: (l: LogLine) => boolean, what: string, opts: { since?: number; timeoutMs?: number } = {}): Promise<LogLine> {
    return waitFor(() => this.lines.slice(opts.since ?? 0).find(pred), { what: `log line: ${what}`, timeoutMs: opts.timeoutMs, detail: () => this.tail() });
  }

  /** "applying action" lines (optionally of one key) from index `since`. */
  actions(key?: string, since = 0): LogLine[] {
    return this.find((l) => l.msg === 'applying action' && (key === undefined || l.key === key), since);
  }

  async http(p: string): Promise<{ status: number; body: string; type: string }> {
    const res = await fetch(`http://${this.listen}${p}`, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' };
  }

  async status(): Promise<StatusRow[]> {
    const res = await this.http('/v1/status');
    if (res.status !== 200) throw new Error(`/v1/status answered ${res.status}`);
    return JSON.parse(res.body) as StatusRow[];
  }

  async row(name: string, namespace = 'default'): Promise<StatusRow | undefined> {
    return (await this.status()).find((r) => r.name === name && r.namespace === namespace);
  }

  /** Waits until the status row of `name` satisfies `pred`; returns it. */
  waitRow(name: string, pred: (r: StatusRow) => boolean, what: string, timeoutMs = 20_000, namespace = 'default'): Promise<StatusRow> {
    let last: StatusRow | undefined;
    return waitFor(
      async () => {
        last = await this.row(name, namespace);
        return last && pred(last) ? last : undefined;
      },
      { what: `${name}: ${what}`, timeoutMs, detail: () => `last row: ${JSON.stringify(last)}\n${this.tail()}` },
    );
  }

  waitReady(timeoutMs = 20_000): Promise<unknown> {
    return waitFor(async () => (await this.http('/readyz')).status === 200, { what: '/readyz 200', timeoutMs, detail: () => this.tail() });
  }

  /** SIGTERM (containers keep running) and wait for the exit; returns the exit code. */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const cancel = new AbortController();
      const timer = delay(timeoutMs, 'timeout' as const, { signal: cancel.signal }).catch(() => 'cancelled' as const);
      const outcome = await Promise.race([this.exited.then(() => 'exited' as const), timer]);
      cancel.abort(); // a pending timer would hold the test process open for its whole length
      if (outcome === 'timeout') {
        this.child.kill('SIGKILL');
        await this.exited;
        throw new Error(`converge did not exit within ${timeoutMs} ms of SIGTERM\n${this.tail()}`);
      }
    }
    return this.exitCode;
  }

  /** SIGKILL: a crash. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }
}

// ---------------------------------------------------------------------------- the CLI

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a converge subcommand to its end (never rejects on a non-zero exit). */
export function cli(args: string[], timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`converge ${args.join(' ')}: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------- containerd

export interface CtrTask {
  id: string;
  pid: number;
  status: string;
}

/** One containerd per test file: start it in `before`, clean up in `after`. */
export class Env {
  private constructor(readonly cd: PrivateContainerd, readonly root: string) {}

  static async start(): Promise<Env> {
    const cd = await startContainerd();
    return new Env(cd, mkdtempSync(path.join(os.tmpdir(), 'converge-it-')));
  }

  get address(): string {
    return this.cd.address;
  }

  /** A fresh namespace with the image, spec dir and state dir, torn down after the test. */
  async scenario(t: TestContext, prefix = 'it'): Promise<Scenario> {
    const namespace = uniqueNamespace(prefix);
    await importBusybox(this.cd.address, namespace);
    const dir = mkdtempSync(path.join(this.root, `${prefix}-`));
    const s = new Scenario(this, namespace, dir);
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

  constructor(readonly env: Env, readonly namespace: string, readonly dir: string) {
    this.specDir = path.join(dir, 'specs');
    this.stateDir = path.join(dir, 'state');
    mkdirSync(this.specDir);
    mkdirSync(this.stateDir);
    this.runtime = createContainerdRuntime({ address: env.address, namespace, stateDir: this.stateDir, log: quietLog });
  }

  /** Starts converge on this scenario's dir (or `dirs`) with extra flags. */
  async run(args: string[] = [], dirs: string[] = [this.specDir]): Promise<Converge> {
    const c = await Converge.start({ dirs, stateDir: this.stateDir, address: this.env.address, namespace: this.namespace, args });
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

  /** Reads a container's log file (the task's stdout and stderr). */
  logOf(id: string): string {
    try {
      return readFileSync(this.runtime.logPath(id), 'utf8');
    } catch {
      return '';
    }
  }

  async cleanup(): Promise<void> {
    for (const c of this.started) await c.stop().catch(() => c.kill());
    // Whatever the test left running goes, so the next test starts on an idle machine.
    try {
      const all = await this.runtime.list();
      await Promise.all(all.map((c) => this.runtime.remove(c.id, 'SIGKILL', 0)));
    } finally {
      this.runtime.close();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}
