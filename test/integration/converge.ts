// converge as the tests run it: `converge run` as a child process (exactly as a user runs
// it) with its JSON log lines collected and its --listen server at hand, and the other
// subcommands run to their end.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { STATE_FILE } from '../../src/cli/run.js';
import type { StatusRow } from '../../src/reconcile/status.js';
import { register, unregister } from '../harness/exitnet.js';
import { waitFor } from '../harness/wait.js';

export { STATE_FILE };

/** The compiled CLI (this file runs from dist/test/integration/). */
export const MAIN = path.resolve(import.meta.dirname, '../../src/cli/main.js');

export interface LogLine {
  level: string;
  time: string;
  msg: string;
  key?: string;
  action?: string;
  reason?: string;
  pid?: number;
  [field: string]: unknown;
}

export const timeOf = (line: LogLine): number => Date.parse(line.time);

export interface RunOptions {
  dirs: string[];
  stateDir: string;
  address: string;
  namespace: string;
  /** e.g. ['--resync', '1s', '--backoff-initial', '50ms']. */
  args?: string[];
  /** Extra environment, e.g. CONVERGE_FAILPOINT. */
  env?: Record<string, string>;
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
    // As the converge bin runs (its shebang): a young generation of at most 2 x 2 MiB.
    const args = ['--max-semi-space-size=2', MAIN, 'run', ...opts.dirs.flatMap((d) => ['--dir', d]), '--state-dir', opts.stateDir,
      '--containerd-address', opts.address, '--namespace', opts.namespace, '--listen', '127.0.0.1:0', ...(opts.args ?? [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    const c = new Converge(child, opts);
    if (opts.env?.CONVERGE_FAILPOINT) return c; // it may be killed before it writes its state file
    const stateFile = path.join(opts.stateDir, STATE_FILE);
    const state = await waitFor(
      () => {
        if (!existsSync(stateFile)) return undefined;
        const s = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number; listen: string | null };
        return s.pid === child.pid ? s : undefined; // a state file left by a killed run is not ours
      },
      {
        what: 'converge to write its state file',
        timeoutMs: 15_000,
        detail: () => c.tail(),
        // An exit during start-up fails at once, not at the deadline.
        abandon: () => (c.running ? undefined : new Error(`converge exited (${c.exitCode ?? c.exitSignal}) before it was up\n${c.tail()}`)),
      },
    );
    c.listen = state.listen ?? '';
    return c;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
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

  /** Resolves once the process has exited (by itself or by a signal). */
  waitExit(): Promise<void> {
    return this.exited;
  }

  /** SIGKILL: a crash. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }
}

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
