// `converge exec`: one extra process in a container's running task (Tasks.Exec) with its
// stdin, stdout and stderr wired to the caller through FIFOs, as ctr does it: converge makes
// the FIFOs under its state dir and gives their paths to the shim, which opens them at
// Start. The exit code is the process's (Tasks.Wait). The exec process is deleted whatever
// happens (a failed start, the caller's Ctrl-C), and the FIFOs with it.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { close, constants, closeSync, open as openCb, openSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import net from 'node:net';
import path from 'node:path';
import type { Writable, Readable } from 'node:stream';
import { codeOf, messageOf } from '../errors.js';
import { RuntimeError } from '../reconcile/runtime.js';
import type { ContainersService } from './containers.js';
import { isDeadlineExceeded, isNotFound, unlessNotFound } from './errors.js';
import { execProcessSpec, readProcessTemplate } from './execspec.js';
import type { TasksService } from './tasks.js';

/** A plain fd (a FileHandle would close it again when collected, after the socket did). */
const open = promisify(openCb);

export interface TermSize {
  width: number;
  height: number;
}

export interface ExecRequest {
  /** The container ID. */
  id: string;
  args: string[];
  /** A terminal of this size (stdout carries it; there is no separate stderr). */
  tty?: TermSize;
  /** The process's stdin (-i); none when absent. */
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
  /** Where the FIFOs are made (a dir of converge's state dir). */
  fifoDir: string;
}

/** One exec process: started by start(), ended by wait() (which also cleans up). */
export class ExecSession {
  private readonly execId = `exec-${randomBytes(6).toString('hex')}`;
  private readonly fifos: { stdin?: string; stdout: string; stderr?: string };
  private readonly sockets: net.Socket[] = [];
  private waiting: Promise<number> | undefined;

  constructor(
    private readonly tasks: TasksService,
    private readonly containers: ContainersService,
    private readonly req: ExecRequest,
    /** Deadline of the calls around the process (exec, start, kill, delete). */
    private readonly callTimeoutMs: number,
  ) {
    const base = path.join(req.fifoDir, `${req.id}.${this.execId}`);
    this.fifos = { stdout: `${base}.stdout`, stderr: req.tty ? undefined : `${base}.stderr`, stdin: req.stdin ? `${base}.stdin` : undefined };
  }

  /** Creates and starts the process; rejects (having cleaned up) when it cannot run. */
  async start(): Promise<void> {
    const { id, tty } = this.req;
    const task = await unlessNotFound(this.tasks.get(id));
    if (task?.status !== 'running') {
      throw new RuntimeError('FailedPrecondition', `container ${id} has no running task (${task ? task.status : 'no task'})`);
    }
    const spec = execProcessSpec(await readProcessTemplate(this.containers, id), this.req.args, tty);
    await mkdir(this.req.fifoDir, { recursive: true, mode: 0o700 });
    const paths = Object.values(this.fifos).filter((p): p is string => p !== undefined);
    // Node has no mkfifo(3); coreutils' mkfifo makes them, private to root.
    execFileSync('mkfifo', ['-m', '600', ...paths]);
    // The shim opens its ends at Start and waits for ours: these opens block (in libuv's
    // pool) until it does, so they are begun first and awaited after.
    const opening = {
      stdout: open(this.fifos.stdout, 'r'),
      stderr: this.fifos.stderr ? open(this.fifos.stderr, 'r') : undefined,
      stdin: this.fifos.stdin ? open(this.fifos.stdin, 'w') : undefined,
    };
    try {
      await this.tasks.exec({ containerId: id, execId: this.execId, spec, stdin: this.fifos.stdin, stdout: this.fifos.stdout, stderr: this.fifos.stderr ?? '', terminal: tty !== undefined });
      this.waiting = this.waitExit();
      this.waiting.catch(() => undefined);
      await this.tasks.start(id, { execId: this.execId, timeoutMs: this.callTimeoutMs });
    } catch (err) {
      this.release(paths);
      await Promise.allSettled(Object.values(opening).map((p) => p?.then((fd) => promisify(close)(fd))));
      await this.cleanUp();
      throw couldNotRun(err);
    }
    this.wire(await opening.stdout, await opening.stderr, await opening.stdin);
    if (tty) await this.resize(tty);
  }

  private wire(...fds: Array<number | undefined>): void {
    const [out, err, input] = fds;
    const socket = (fd: number, readable: boolean): net.Socket => {
      const s = new net.Socket({ fd, readable, writable: !readable });
      s.on('error', () => undefined); // the shim closing its end early is not the caller's error
      this.sockets.push(s);
      return s;
    };
    if (out !== undefined) socket(out, true).pipe(this.req.stdout, { end: false });
    if (err !== undefined) socket(err, true).pipe(this.req.stderr, { end: false });
    if (input !== undefined && this.req.stdin) {
      const s = socket(input, false);
      this.req.stdin.pipe(s);
      // End of the caller's input: the process reads end of file (ctr's CloseIO, too).
      s.on('finish', () => void this.tasks.closeStdin(this.req.id, { execId: this.execId }).catch(() => undefined));
    }
  }

  /**
   * Sets the terminal's size (on start, and when the caller's changes). Best effort: a
   * process that has just exited cannot be resized, and that is no failure of the exec.
   */
  async resize(size: TermSize): Promise<void> {
    await this.tasks.resizePty(this.req.id, size, { execId: this.execId }).catch(() => undefined);
  }

  /** Signals the process (the caller's Ctrl-C without a terminal: SIGKILL). */
  async kill(signal: number): Promise<void> {
    await this.tasks.kill(this.req.id, signal, false, { execId: this.execId }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }

  /** The exit code, once the process has exited, its output is out and it is deleted. */
  async wait(): Promise<number> {
    if (!this.waiting) throw new Error('exec: wait before start');
    try {
      return await this.waiting;
    } finally {
      await this.cleanUp();
    }
  }

  /** Tasks.Wait without an end: its deadline is renewed until the process exits. */
  private async waitExit(): Promise<number> {
    for (;;) {
      try {
        return (await this.tasks.wait(this.req.id, { execId: this.execId, timeoutMs: 3_600_000 })).exitStatus;
      } catch (err) {
        if (!isDeadlineExceeded(err)) throw err;
      }
    }
  }

  /** Deletes the process (the shim flushes and closes its ends), drains ours, removes the FIFOs. */
  private async cleanUp(): Promise<void> {
    await this.tasks.deleteProcess(this.req.id, this.execId, { timeoutMs: this.callTimeoutMs }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    const readers = this.sockets.filter((s) => s.readable);
    await Promise.race([
      Promise.all(readers.map((s) => new Promise((resolve) => (s.closed ? resolve(undefined) : s.once('close', resolve))))),
      new Promise((resolve) => setTimeout(resolve, 5_000).unref()),
    ]);
    this.req.stdin?.unpipe();
    for (const s of this.sockets) s.destroy();
    await Promise.all(Object.values(this.fifos).map((p) => (p ? rm(p, { force: true }) : undefined)));
  }

  /** Opens pending on FIFOs the shim never opened are let go (O_RDWR completes either end). */
  private release(paths: string[]): void {
    for (const p of paths) {
      try {
        closeSync(openSync(p, constants.O_RDWR | constants.O_NONBLOCK));
      } catch {
        // gone already
      }
    }
  }
}

/** A command runc could not run, as docker exec says it: 127 not found, 126 not runnable. */
export class ExecStartError extends RuntimeError {
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super('FailedPrecondition', message, options);
  }
}

function couldNotRun(err: unknown): unknown {
  const code = codeOf(err);
  if (code === 'Unavailable' || code === 'DeadlineExceeded' || code === 'Canceled' || code === 'NotFound') return err;
  const message = messageOf(err);
  return new ExecStartError(message, /not found|no such file/i.test(message) ? 127 : 126, { cause: err });
}
