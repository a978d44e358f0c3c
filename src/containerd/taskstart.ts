// A container's new task: made (Tasks.Create: the shim, runc create, the log driver) and
// started (Tasks.Start: the process runs). A restart waiting out its back-off makes the
// task beforehand (prepare), so that the restart itself is only the start.

import type { Logger } from 'pino';
import type { ContainersService } from './containers.js';
import { isDefinite, unlessNotFound } from './errors.js';
import type { ImageResolver } from './image.js';
import { LABEL_KEY, LABEL_TERMINATION, keyOfId } from './labels.js';
import { noNetwork, requestFromLabel, type NetworkGlue } from './netglue.js';
import type { SnapshotsService } from './snapshots.js';
import type { TaskOps } from './taskops.js';
import type { NewTask, TasksService } from './tasks.js';
import type { Mount } from './proto.js';
import { recordStart, writeTermination } from './termination.js';
import type { TaskLogs } from '../logs/driver.js';
import type { FailpointStep } from './settings.js';
import { markTaskMayHaveRun } from '../reconcile/runtime.js';

export interface TaskStartDeps {
  containers: ContainersService;
  tasks: TasksService;
  snapshots: SnapshotsService;
  resolver: ImageResolver;
  taskOps: TaskOps;
  taskLogs: TaskLogs;
  net: NetworkGlue | undefined;
  snapshotter: string;
  taskOptions: NewTask['options'];
  withLease: <T>(fn: (lease: string) => Promise<T>) => Promise<T>;
  reached: (step: FailpointStep) => void;
  log: Logger;
}

/** A container converge has just made: what its first task needs, without reading it back. */
interface JustCreated {
  labels: Record<string, string>;
  rootfs: Mount[];
  at: number;
}

/** A create's facts serve only the start that follows it at once (apply.ts: create, then start). */
const JUST_CREATED_MS = 10_000;

export class TaskStarter {
  private readonly fresh = new Map<string, JustCreated>();

  constructor(private readonly d: TaskStartDeps) {}

  /**
   * The container was just made with these labels and root file system mounts (from
   * Snapshots.Prepare): its first start uses them rather than read them back
   * (Containers.Get, Snapshots.Mounts), and knows it has no task yet (Tasks.Get).
   */
  created(id: string, c: { labels: Record<string, string>; rootfs: Mount[] }): void {
    this.fresh.set(id, { ...c, at: performance.now() });
  }

  /** The container is going: what created() recorded no longer holds. */
  forget(id: string): void {
    this.fresh.delete(id);
  }

  private takeFresh(id: string): JustCreated | undefined {
    const f = this.fresh.get(id);
    this.fresh.delete(id);
    return f && performance.now() - f.at < JUST_CREATED_MS ? f : undefined;
  }

  /** Creates and starts the container's task; one already running is kept; a stopped one is deleted first. */
  start = async (id: string): Promise<{ pid: number }> => {
    const { taskOps } = this.d;
    const fresh = this.takeFresh(id);
    if (fresh) return this.createAndStart(id, await this.newTask(id, fresh));
    const existing = await taskOps.getTask(id);
    if (existing?.status === 'running' || existing?.status === 'paused' || existing?.status === 'pausing') {
      return { pid: existing.pid };
    }
    if (existing?.status === 'created') return this.startCreated(id);
    if (existing) await taskOps.deleteTaskQuiet(id);
    return this.createAndStart(id, await this.newTask(id));
  };

  private createAndStart(id: string, { task, labels }: { task: NewTask; labels: Record<string, string> }): Promise<{ pid: number }> {
    const { tasks, taskOps, log } = this.d;
    return recordStart(this.d.containers, id, labels, log, async () => {
      const found = await taskOps.createTask(id, task);
      this.d.reached('task-created');
      if (found) return found;
      try {
        return await tasks.start(id);
      } catch (err) {
        // A task that cannot start would only be in the way of the next try.
        if (isDefinite(err)) await taskOps.deleteTaskQuiet(id).catch((e: unknown) => log.warn({ err: e, id }, 'task not deleted'));
        throw markTaskMayHaveRun(err);
      }
    });
  }

  /**
   * Creates the container's task without starting it, when it has none: the costly part of
   * a start (the shim, runc create, the log driver), done while a restart waits out its
   * back-off. start() then finds it created and only starts it.
   */
  prepare = async (id: string): Promise<void> => {
    const { taskOps, log } = this.d;
    if (await taskOps.getTask(id)) return;
    const { task } = await this.newTask(id);
    const found = await taskOps.createTask(id, task);
    // Not expected (nothing was there): whatever was found and started stays as it is.
    if (found) log.debug({ id, pid: found.pid }, 'a task was found and started while preparing one');
  };

  /** Starts a created task; a termination an earlier task left recorded is removed, as for any start. */
  private async startCreated(id: string): Promise<{ pid: number }> {
    // The labels are read beside the start: it costs the start nothing.
    const labels: Promise<Record<string, string>> = unlessNotFound(this.d.containers.get(id)).then((c) => c?.labels ?? {}, () => ({}));
    const started = await recordStart(this.d.containers, id, {}, this.d.log, () => this.d.tasks.start(id).catch((err: unknown) => Promise.reject(markTaskMayHaveRun(err))));
    if ((await labels)[LABEL_TERMINATION]) {
      await writeTermination(this.d.containers, id, undefined).catch((e: unknown) => this.d.log.warn({ err: e, id }, 'old termination not cleared'));
    }
    return started;
  }

  /** What a new task of the container is made from: its root file system, its network, its log. */
  private async newTask(id: string, fresh?: JustCreated): Promise<{ task: NewTask; labels: Record<string, string> }> {
    const { containers, snapshots, net, log } = this.d;
    // Through the log driver, which the shim starts with the task: file:// cannot rotate.
    const uri = await this.d.taskLogs.uri(keyOfId(id));
    if (fresh) {
      // Attached by create already; attach() keeps a live attachment as it is.
      const request = requestFromLabel(fresh.labels, id, fresh.labels[LABEL_KEY] || keyOfId(id));
      if (request) await net?.network.attach(request);
      return { task: { containerId: id, rootfs: fresh.rootfs, stdout: uri, stderr: uri, options: this.d.taskOptions }, labels: fresh.labels };
    }
    const c = await containers.get(id);
    // Attached already (a restart of the task or of converge): kept as it is. Not (a
    // reboot took its namespace): attached again, as the label says.
    const request = requestFromLabel(c.labels, id, c.labels[LABEL_KEY] || keyOfId(id));
    if (request) {
      if (!net) throw noNetwork(request.key);
      await net.network.attach(request);
    }
    const [snapshotterOf, snapshotKey] = [c.snapshotter || this.d.snapshotter, c.snapshotKey || id];
    let rootfs = await unlessNotFound(snapshots.mounts(snapshotterOf, snapshotKey));
    if (!rootfs) {
      // A removal cut between the snapshot and the container record: make the root file
      // system anew from the container's image rather than fail every start from now on.
      log.warn({ id, snapshotKey }, 'container has no snapshot; preparing it again from its image');
      const { chainId } = await this.d.resolver.resolve(c.image);
      rootfs = await this.d.withLease((lease) => snapshots.prepare(snapshotterOf, snapshotKey, chainId, {}, { lease }));
    }
    return { task: { containerId: id, rootfs, stdout: uri, stderr: uri, options: this.d.taskOptions }, labels: c.labels };
  }
}
