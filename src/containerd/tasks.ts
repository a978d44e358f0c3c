// Tasks service: the process of a container (create, start, signal, wait, delete).

import type { TaskStatus } from '../reconcile/runtime.js';
import type { CallOptions, ContainerdClient } from './client.js';
import { type Mount, type ProtoAny, type ProtoTimestamp, mountToProto, toDate } from './proto.js';

export interface Process {
  /** The container ID (the init process of a task carries the container's ID). */
  id: string;
  pid: number;
  status: TaskStatus;
  exitStatus: number;
  exitedAt?: Date;
  stdout: string;
  stderr: string;
}

export interface NewTask {
  containerId: string;
  rootfs: Mount[];
  stdout: string;
  stderr: string;
  /** Runtime-specific options (an Any), e.g. runc's root. */
  options?: { type_url: string; value: Buffer };
}

/** An extra process to run in a task (Tasks.Exec). */
export interface NewExec {
  containerId: string;
  execId: string;
  /** The OCI process spec (runtime-spec `process`), sent as JSON. */
  spec: object;
  /** URIs or paths as for a task; "" for none. */
  stdout: string;
  stderr: string;
  /** A FIFO the shim reads the process's stdin from; "" (default) for none. */
  stdin?: string;
  /** Give the process a terminal (stdout then carries it; stderr is unused). */
  terminal?: boolean;
}

/** One task's statistics (Tasks.Metrics): its cgroup's Metrics message in an Any. */
export interface TaskMetric {
  id: string;
  at?: Date;
  data: ProtoAny | null;
}

/** The type URL containerd's clients give an OCI process spec in JSON. */
export const OCI_PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

export interface ExitInfo {
  exitStatus: number;
  exitedAt?: Date;
}

interface ProtoProcess {
  container_id: string;
  id: string;
  pid: number;
  status: string;
  stdout: string;
  stderr: string;
  exit_status: number;
  exited_at: ProtoTimestamp | null;
}

const STATUSES: Record<string, TaskStatus> = {
  CREATED: 'created',
  RUNNING: 'running',
  STOPPED: 'stopped',
  PAUSED: 'paused',
  PAUSING: 'pausing',
};

function fromProto(p: ProtoProcess): Process {
  return {
    // containerd fills `id` (and not container_id) for the init process in List and Get.
    id: p.id || p.container_id,
    pid: p.pid,
    status: STATUSES[p.status] ?? 'unknown',
    exitStatus: p.exit_status,
    exitedAt: toDate(p.exited_at),
    stdout: p.stdout,
    stderr: p.stderr,
  };
}

export class TasksService {
  constructor(private readonly client: ContainerdClient) {}

  async create(t: NewTask, opts?: CallOptions): Promise<{ pid: number }> {
    const req = {
      container_id: t.containerId,
      rootfs: t.rootfs.map(mountToProto),
      stdin: '',
      stdout: t.stdout,
      stderr: t.stderr,
      terminal: false,
      options: t.options,
    };
    const res = await this.client.unary<{ pid: number }>('tasks', 'Create', req, opts);
    return { pid: res.pid };
  }

  /** Starts the task, or with `execId` one of its exec processes. */
  async start(containerId: string, opts?: CallOptions & { execId?: string }): Promise<{ pid: number }> {
    const res = await this.client.unary<{ pid: number }>('tasks', 'Start', { container_id: containerId, exec_id: opts?.execId ?? '' }, opts);
    return { pid: res.pid };
  }

  /** Adds an exec process to a running task; Start(execId) runs it. */
  async exec(e: NewExec, opts?: CallOptions): Promise<void> {
    const req = {
      container_id: e.containerId,
      exec_id: e.execId,
      stdin: e.stdin ?? '',
      stdout: e.stdout,
      stderr: e.stderr,
      terminal: e.terminal ?? false,
      spec: { type_url: OCI_PROCESS_TYPE_URL, value: Buffer.from(JSON.stringify(e.spec)) },
    };
    await this.client.unary('tasks', 'Exec', req, opts);
  }

  /** Removes an exited exec process (its IO is flushed by then). */
  async deleteProcess(containerId: string, execId: string, opts?: CallOptions): Promise<ExitInfo> {
    const res = await this.client.unary<{ exit_status: number; exited_at: ProtoTimestamp | null }>(
      'tasks',
      'DeleteProcess',
      { container_id: containerId, exec_id: execId },
      opts,
    );
    return { exitStatus: res.exit_status, exitedAt: toDate(res.exited_at) };
  }

  /** Sets the terminal size of the task, or with `execId` of one of its exec processes. */
  async resizePty(containerId: string, size: { width: number; height: number }, opts?: CallOptions & { execId?: string }): Promise<void> {
    await this.client.unary('tasks', 'ResizePty', { container_id: containerId, exec_id: opts?.execId ?? '', width: size.width, height: size.height }, opts);
  }

  /** Closes the stdin of a process (it reads end of file). */
  async closeStdin(containerId: string, opts?: CallOptions & { execId?: string }): Promise<void> {
    await this.client.unary('tasks', 'CloseIO', { container_id: containerId, exec_id: opts?.execId ?? '', stdin: true }, opts);
  }

  /** The cgroup statistics of every task of the namespace (`filters` narrow it, e.g. id==X). */
  async metrics(filters: string[] = [], opts?: CallOptions): Promise<TaskMetric[]> {
    const res = await this.client.unary<{ metrics: Array<{ id: string; timestamp: ProtoTimestamp | null; data: ProtoAny | null }> }>(
      'tasks',
      'Metrics',
      { filters },
      opts,
    );
    return res.metrics.map((m) => ({ id: m.id, at: toDate(m.timestamp), data: m.data }));
  }

  async get(containerId: string, opts?: CallOptions): Promise<Process> {
    const res = await this.client.unary<{ process: ProtoProcess }>('tasks', 'Get', { container_id: containerId }, opts);
    return fromProto(res.process);
  }

  async list(filter = '', opts?: CallOptions): Promise<Process[]> {
    const res = await this.client.unary<{ tasks: ProtoProcess[] }>('tasks', 'List', { filter }, opts);
    return res.tasks.map(fromProto);
  }

  /** `all` signals every process of the container, not just its init. */
  async kill(containerId: string, signal: number, all = false, opts?: CallOptions & { execId?: string }): Promise<void> {
    await this.client.unary('tasks', 'Kill', { container_id: containerId, exec_id: opts?.execId ?? '', signal, all }, opts);
  }

  /** Resolves when the task exits (at once for an exited one); bounded by the deadline. */
  async wait(containerId: string, opts?: CallOptions & { execId?: string }): Promise<ExitInfo> {
    const res = await this.client.unary<{ exit_status: number; exited_at: ProtoTimestamp | null }>(
      'tasks',
      'Wait',
      { container_id: containerId, exec_id: opts?.execId ?? '' },
      opts,
    );
    return { exitStatus: res.exit_status, exitedAt: toDate(res.exited_at) };
  }

  async delete(containerId: string, opts?: CallOptions): Promise<ExitInfo & { pid: number }> {
    const res = await this.client.unary<{ pid: number; exit_status: number; exited_at: ProtoTimestamp | null }>(
      'tasks',
      'Delete',
      { container_id: containerId },
      opts,
    );
    return { pid: res.pid, exitStatus: res.exit_status, exitedAt: toDate(res.exited_at) };
  }
}
