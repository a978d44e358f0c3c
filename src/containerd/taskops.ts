// The task operations that take more than one call: stop (signal, wait the grace period,
// SIGKILL, delete) and the quiet forms of get and delete, for which "already gone" is done.

import type { Logger } from 'pino';
import { DeadlineExceededError, isDeadlineExceeded, isNotFound, unlessNotFound } from './errors.js';
import { signalNumber } from './oci.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlreadyExists } from './errors.js';
import { messageOf } from '../errors.js';
import type { NewTask, Process, TasksService } from './tasks.js';
import { clearStaleBundle, leftoverBundleOf, type StaleBundleOutcome } from './stale-bundle.js';
import { untilSocketGone } from './shim-socket.js';
import { keyOfId } from './labels.js';

const SIGKILL = 9;

/** How long a new task waits for the shim of the task deleted before it to stop answering. */
const SHIM_GONE_MAX_MS = 2_000;
/** A delete longer ago than this is not waited for: its shim is gone or was never ours to wait on. */
const RECENT_DELETE_MS = 10_000;

export class TaskOps {
  /** When converge last deleted a task of each container (until its next task is made). */
  private readonly deleted = new Map<string, number>();

  constructor(
    private readonly tasks: TasksService,
    private readonly log: Logger,
    private readonly timeoutMs: number,
    private readonly namespace: string,
    /** The socket path of a container's shim (shim-socket.ts), or undefined to wait for none. */
    private readonly shimSocket?: (id: string) => string,
  ) {}

  getTask = (id: string): Promise<Process | undefined> => unlessNotFound(this.tasks.get(id));

  /** Deletes the task; gone already is fine. */
  deleteTaskQuiet = async (id: string): Promise<{ exitStatus: number } | undefined> => {
    const res = await unlessNotFound(this.tasks.delete(id));
    if (res && this.shimSocket) {
      this.deleted.delete(id);
      this.deleted.set(id, performance.now());
      // Bounded without a sweep: the oldest entries are the ones long past RECENT_DELETE_MS.
      if (this.deleted.size > 4096) this.deleted.delete(this.deleted.keys().next().value as string);
    }
    return res && { exitStatus: res.exitStatus };
  };

  /**
   * After converge deleted the container's task, its shim answers on for a moment while it
   * shuts down, and containerd would put the new task in it (shim-socket.ts): wait that out.
   */
  private async afterOwnDelete(id: string): Promise<void> {
    const at = this.deleted.get(id);
    if (at === undefined || !this.shimSocket) return;
    this.deleted.delete(id);
    if (performance.now() - at > RECENT_DELETE_MS) return;
    const socket = this.shimSocket(id);
    const began = performance.now();
    const gone = await untilSocketGone(socket, SHIM_GONE_MAX_MS);
    const ms = Math.round(performance.now() - began);
    if (!gone) this.log.warn({ id, socket, ms }, 'the shim of the deleted task still answers; creating the new task anyway');
    else if (ms > 0) this.log.debug({ id, ms }, 'waited for the shim of the deleted task to go');
  }

  /**
   * Sends `signal` and waits up to `waitMs` for the exit. The wait is made before the
   * signal, so an exit in between cannot be missed. True when the task exited.
   */
  private async signalAndWait(id: string, signal: number, all: boolean, waitMs: number): Promise<boolean> {
    const waiting = this.tasks.wait(id, { timeoutMs: waitMs }).then(
      () => true,
      (err: unknown) => {
        if (isNotFound(err)) return true;
        if (isDeadlineExceeded(err)) return false;
        throw err;
      },
    );
    try {
      await this.tasks.kill(id, signal, all);
    } catch (err) {
      // NotFound: the process is gone already ("process already finished").
      if (!isNotFound(err)) {
        waiting.catch(() => undefined);
        throw err;
      }
    }
    return waiting;
  }

  /** Stops the task: `signal`, up to `graceMs` for it to exit, then SIGKILL; deletes it. */
  stop = async (id: string, signal: string, graceMs: number): Promise<void> => {
    await this.halt(id, signal, graceMs);
    const deleted = await this.deleteTaskQuiet(id);
    // How it ended, from containerd's answer: the exit event of a task deleted at once can
    // be lost (eventstream.ts, ExitLedger), this cannot.
    if (deleted) this.log.info({ id, key: keyOfId(id), exitStatus: deleted.exitStatus }, 'task deleted');
  };

  /**
   * `signal`, up to `graceMs` for the exit, then SIGKILL; the stopped task stays, with its
   * exit status (an unhealthy task's exit then goes through the restart policy as any exit).
   */
  halt = async (id: string, signal: string, graceMs: number): Promise<void> => {
    const sig = signalNumber(signal);
    const task = await this.getTask(id);
    if (!task || task.status === 'stopped') return;
    // A created task runs nothing of the container's yet (runc init waits to exec it): no grace.
    const graceful = graceMs > 0 && sig !== SIGKILL && task.status !== 'created';
    if (!graceful || !(await this.signalAndWait(id, sig, false, graceMs))) {
      if (graceful) this.log.info({ id, signal, graceMs }, 'task did not stop in its grace period; killing it');
      if (!(await this.signalAndWait(id, SIGKILL, true, this.timeoutMs))) {
        throw new DeadlineExceededError(`task ${id} did not exit ${this.timeoutMs} ms after SIGKILL`);
      }
    }
  };

  /**
   * Tasks.Create, safe against what an earlier converge or containerd left behind. Create
   * answers AlreadyExists for a stale task (containerd killed just after it started the
   * shim: Get answers NotFound while the shim holds the ID), and for a Create that a killed
   * converge sent and containerd is still carrying out (its shim's bundle is there, the
   * task not yet). Deleting by ID clears the first; the second is waited for, then started
   * if it was made, or deleted if containerd killed it (its exit is not one of ours); while
   * that one's shim is cleaned up, ours can fail to start on its vanishing bundle, which is
   * tried again too. A bundle that containerd 1.6/1.7 left behind for good after a crash
   * (stale-bundle.ts) is removed once it is provably nobody's. Until the deadline of one
   * call. Returns the pid when it started a task it found.
   */
  createTask = async (id: string, task: NewTask): Promise<{ pid: number } | undefined> => {
    await this.afterOwnDelete(id);
    const deadline = performance.now() + this.timeoutMs;
    let leftover: StaleBundleOutcome | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.tasks.create(task);
        return undefined;
      } catch (err) {
        const clash = isAlreadyExists(err) || (attempt > 0 && /\bfailed to start shim\b/.test(messageOf(err)));
        if (!clash || performance.now() > deadline) {
          if (leftover && !leftover.cleared) this.log.warn({ id, bundle: leftover.path, why: leftover.why }, 'containerd left this task bundle behind; not removed');
          throw err;
        }
        const there = await this.getTask(id);
        if (attempt === 0) this.log.warn({ id, err, found: there?.status ?? 'none' }, 'a task of this container is there or on its way; clearing it before creating it again');
        if (there?.status === 'created') return this.tasks.start(id);
        if (there && there.status !== 'stopped') return { pid: there.pid };
        await this.deleteTaskQuiet(id);
        const bundle = there ? undefined : leftoverBundleOf(err, this.namespace, id);
        if (bundle) {
          leftover = await clearStaleBundle(bundle);
          if (leftover.cleared) {
            this.log.warn({ id, bundle }, 'removed a task bundle containerd left behind after a crash');
            continue;
          }
        }
        if (!there) await sleep(100);
      }
    }
  };
}
