// Starts and tears down a private containerd (own root, state, socket, opt dir under one temp
// dir) for integration tests; several may run at once, and none outlives the test process.
// Which containerd: CONVERGE_TEST_CONTAINERD (selection.ts), Debian's by default.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { containerdConfig, REQUIRED_PLUGINS } from '../../src/embedded/config.js';
import { ctr, HarnessError } from './exec.js';
import { register, unregister } from './exitnet.js';
import { waitFor } from './wait.js';
import { forceCleanupSync } from './teardown.js';
import { runcRoot } from '../../src/containerd/runc.js';
import { CONTAINERD_BIN, selectedConfigVersion } from './selection.js';

export { CONTAINERD_BIN };

export interface PrivateContainerd {
  /** The gRPC unix socket path (no scheme). */
  readonly address: string;
  readonly dir: string;
  readonly root: string;
  readonly state: string;
  /** containerd's log (all its runs appended). */
  readonly logPath: string;
  /** pid of the running containerd, 0 while stopped. */
  readonly pid: number;
  /** SIGTERM and wait for exit; shims, tasks and dirs stay (for a restart). */
  stop(): Promise<void>;
  /** Start again with the same root, state and socket. */
  start(): Promise<void>;
  /** SIGKILL (a crash); shims and tasks stay. */
  kill(): Promise<void>;
  /** Stop, kill every task and shim it started, unmount, remove dir. */
  cleanup(): Promise<void>;
}

export interface StartOptions {
  /** Use this dir (created if missing, removed by cleanup) instead of a fresh temp dir. */
  dir?: string;
  /** How long containerd may take to answer its first Version call (default 20 s). */
  readyTimeoutMs?: number;
  /** TOML appended to the generated config.toml (plugin settings a test needs). */
  extraConfig?: string;
}

/** Longest unix socket path Linux takes (sun_path is 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;
const STOP_TIMEOUT_MS = 10_000;

const SOCKET_NAME = 'c.sock';

function checkSocketPath(address: string): void {
  if (Buffer.byteLength(address) > MAX_SOCKET_PATH) {
    throw new HarnessError('HARNESS_PATH_TOO_LONG', `socket path ${address} is longer than ${MAX_SOCKET_PATH} bytes`);
  }
}

class Instance implements PrivateContainerd {
  readonly root: string;
  readonly state: string;
  readonly address: string;
  readonly logPath: string;
  private readonly configPath: string;
  private readonly readyTimeoutMs: number;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(readonly dir: string, readyTimeoutMs: number, extraConfig: string) {
    this.root = path.join(dir, 'root');
    this.state = path.join(dir, 'state');
    this.address = path.join(dir, SOCKET_NAME);
    this.logPath = path.join(dir, 'containerd.log');
    this.configPath = path.join(dir, 'config.toml');
    this.readyTimeoutMs = readyTimeoutMs;
    checkSocketPath(this.address);
    writeFileSync(
      this.configPath,
      containerdConfig({ root: this.root, state: this.state, address: this.address, opt: path.join(dir, 'opt') }, selectedConfigVersion()) +
        extraConfig,
    );
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  private get running(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const log = openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      // Own process group: a ^C in the terminal reaches the test process, whose handlers
      // then tear containerd down in order, rather than racing it.
      child = spawn(CONTAINERD_BIN, ['--config', this.configPath], { stdio: ['ignore', log, log], detached: true });
    } finally {
      closeSync(log);
    }
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (this.child === child) this.child = undefined;
        resolve();
      });
      child.once('error', () => {
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    // Only the awaits below keep the event loop alive, so a test that forgets cleanup()
    // ends (and the exit net kills containerd) instead of hanging forever.
    child.unref();
    await this.waitReady(child);
  }

  private async waitReady(child: ChildProcess): Promise<void> {
    await waitFor(
      async () => {
        // No socket yet means no listener yet; skip spawning ctr for nothing.
        if (!existsSync(this.address)) return false;
        await ctr(this.address, ['version'], { timeoutMs: 5_000 });
        return true;
      },
      {
        what: 'containerd to answer Version',
        timeoutMs: this.readyTimeoutMs,
        intervalMs: 20,
        abandon: async () =>
          this.child === child
            ? undefined
            : new HarnessError('HARNESS_CONTAINERD_EXITED', `containerd exited during startup; log tail:\n${await this.logTail()}`),
        detail: async () => `log tail:\n${await this.logTail()}`,
        timeoutError: (message, cause) => new HarnessError('HARNESS_CONTAINERD_NOT_READY', message, { cause }),
      },
    );
    await this.checkPlugins();
  }

  /** A plugin that failed to load only shows when it is first used; fail at startup instead. */
  private async checkPlugins(): Promise<void> {
    const { stdout } = await ctr(this.address, ['plugins', 'ls'], { timeoutMs: 5_000 });
    const ok = new Set(
      stdout
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((cols) => cols[cols.length - 1] === 'ok')
        .map((cols) => `${cols[0]} ${cols[1]}`),
    );
    const missing = REQUIRED_PLUGINS.filter((p) => !ok.has(p));
    if (missing.length > 0) {
      throw new HarnessError(
        'HARNESS_CONTAINERD_NOT_READY',
        `containerd is up but these plugins did not load: ${missing.join(', ')}; log tail:\n${await this.logTail()}`,
      );
    }
  }

  async logTail(bytes = 4096): Promise<string> {
    try {
      const fh = await open(this.logPath, 'r');
      try {
        const { size } = await fh.stat();
        const start = Math.max(0, size - bytes);
        const buf = Buffer.alloc(size - start);
        await fh.read(buf, 0, buf.length, start);
        return buf.toString('utf8');
      } finally {
        await fh.close();
      }
    } catch (err) {
      return `(no log: ${(err as Error).message})`;
    }
  }

  private async signalAndWait(sig: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
    const child = this.child;
    if (!child) return true;
    child.kill(sig);
    const cancel = new AbortController();
    const timer = delay(timeoutMs, 'timeout' as const, { signal: cancel.signal }).catch(() => 'cancelled' as const);
    try {
      return (await Promise.race([this.exited.then(() => 'exited' as const), timer])) === 'exited';
    } finally {
      cancel.abort(); // a pending timer would keep the test process alive for its full length
    }
  }

  async stop(): Promise<void> {
    if (await this.signalAndWait('SIGTERM', STOP_TIMEOUT_MS)) return;
    await this.signalAndWait('SIGKILL', STOP_TIMEOUT_MS);
    throw new HarnessError('HARNESS_STOP_TIMEOUT', `containerd did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM; killed it`);
  }

  async kill(): Promise<void> {
    if (!(await this.signalAndWait('SIGKILL', STOP_TIMEOUT_MS))) {
      throw new HarnessError('HARNESS_STOP_TIMEOUT', `containerd did not exit within ${STOP_TIMEOUT_MS} ms of SIGKILL`);
    }
  }

  /** Deletes every task through containerd, so shims clean their runc state and cgroups. */
  private async deleteTasks(): Promise<void> {
    const { stdout } = await ctr(this.address, ['namespaces', 'ls', '-q'], { timeoutMs: 10_000 });
    const namespaces = stdout.split('\n').filter(Boolean);
    await Promise.allSettled(
      namespaces.map(async (namespace) => {
        const tasks = await ctr(this.address, ['tasks', 'ls', '-q'], { namespace, timeoutMs: 10_000 });
        const ids = tasks.stdout.split('\n').filter(Boolean);
        await Promise.allSettled(
          ids.map((id) => ctr(this.address, ['tasks', 'delete', '--force', id], { namespace, timeoutMs: 15_000 })),
        );
      }),
    );
  }

  async cleanup(): Promise<void> {
    if (this.running) {
      // Best effort: whatever this misses, the forced teardown below catches.
      await this.deleteTasks().catch(() => undefined);
      await this.stop().catch(() => undefined);
    }
    const problems = forceCleanupSync(this.address, this.dir, this.state);
    // converge's tasks keep runc state under a root of this containerd's own (runc.ts);
    // by now every task is deleted, so only empty per-namespace dirs can be left there.
    if (problems.length === 0) rmSync(runcRoot(this.address), { recursive: true, force: true });
    if (problems.length > 0) {
      // Stays registered: the exit net tries once more.
      throw new HarnessError('HARNESS_CLEANUP_INCOMPLETE', `cleanup of ${this.dir} left: ${problems.join('; ')}`);
    }
    unregister(this);
  }

  /** For the exit net: no awaits possible, so kill rather than ask. */
  cleanupSync(): void {
    this.child?.kill('SIGKILL');
    forceCleanupSync(this.address, this.dir, this.state);
  }
}

export async function startContainerd(opts: StartOptions = {}): Promise<PrivateContainerd> {
  let dir: string;
  if (opts.dir !== undefined) {
    checkSocketPath(path.join(path.resolve(opts.dir), SOCKET_NAME)); // before leaving a dir behind
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    dir = await realpath(opts.dir);
  } else {
    // Short on purpose: the socket path must stay under 108 bytes.
    dir = await realpath(mkdtempSync(path.join(os.tmpdir(), 'cd-')));
  }
  let inst: Instance;
  try {
    inst = new Instance(dir, opts.readyTimeoutMs ?? 20_000, opts.extraConfig ?? '');
  } catch (err) {
    rmSync(dir, { recursive: true, force: true }); // e.g. a TMPDIR too long for the socket
    throw err;
  }
  register(inst);
  try {
    await inst.start();
  } catch (err) {
    await inst.cleanup().catch(() => undefined);
    throw err;
  }
  return inst;
}

let nsCounter = 0;

/**
 * A containerd namespace no other test (in this or another process) uses. Needed even with
 * separate containerds: runc keeps state in /run/containerd/runc/<ns>/<id> and `ctr run`
 * puts tasks in cgroup /<ns>/<id>, both shared by every containerd on the machine.
 */
export function uniqueNamespace(prefix = 't'): string {
  nsCounter += 1;
  return `${prefix}-${process.pid}-${nsCounter}-${Math.random().toString(36).slice(2, 6)}`;
}
