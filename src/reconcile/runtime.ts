// The contract the reconciler owns: what it needs of a container runtime, in its own terms.
// An adapter (containerd/) implements it and maps its failures to the codes below, so
// nothing in reconcile/ knows a gRPC status, a containerd label or a container ID scheme.

import { ConvergeError, codeOf } from '../errors.js';
import type { PublishedPort } from '../spec/ports.js';
import type { DesiredContainer, Key, PullPolicy } from '../spec/types.js';

/** The runtime-neutral failure codes the reconciler branches on. */
export type RuntimeErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'FailedPrecondition'
  | 'Unavailable'
  | 'DeadlineExceeded'
  | 'InvalidArgument'
  | 'Canceled'
  | 'PermissionDenied'
  | 'ResourceExhausted'
  | 'Aborted'
  | 'Unimplemented'
  | 'Internal'
  | 'Unknown';

export class RuntimeError extends ConvergeError {
  declare readonly code: RuntimeErrorCode;

  constructor(code: RuntimeErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export const isAlreadyExists = (err: unknown): boolean => codeOf(err) === 'AlreadyExists';

const MAY_HAVE_RUN = Symbol('taskMayHaveRun');

/**
 * Marks a start's failure as one after which the task may have run: the start call itself
 * failed (a shim killed as it answered reads NotFound or "ttrpc: closed"), not what came
 * before it. Returns the error, to be thrown.
 */
export function markTaskMayHaveRun(err: unknown): unknown {
  if (err !== null && typeof err === 'object') (err as Record<symbol, boolean>)[MAY_HAVE_RUN] = true;
  return err;
}

export const taskMayHaveRun = (err: unknown): boolean => err !== null && typeof err === 'object' && (err as Record<symbol, boolean>)[MAY_HAVE_RUN] === true;

export type TaskStatus = 'created' | 'running' | 'stopped' | 'paused' | 'pausing' | 'unknown';

export interface ActualTask {
  pid: number;
  status: TaskStatus;
  /** Set when status is 'stopped'. */
  exitStatus?: number;
  exitedAt?: Date;
}

/** One container the runtime holds for converge, as the runtime reports it. */
export interface ActualContainer {
  key: Key;
  /** The runtime's name for it (containerd's container ID), for display. */
  id: string;
  /** Hash of the spec it was created from; "" when not created by converge. */
  specHash: string;
  /** Whether converge made it (only those are ever replaced or removed). */
  managed: boolean;
  /** The origin of the spec it was created from (the source label), when recorded. */
  origin?: string;
  /** How to stop it, as its own spec said when it was made. */
  stop?: { signal: string; graceMs: number };
  /** Every label of the container, for status and tests; the reconciler reads the fields above. */
  labels: Record<string, string>;
  /** Restarts recorded on the container. */
  restarts: number;
  createdAt?: Date;
  /** Absent when the container has no task. */
  task?: ActualTask;
  /** Its place on the bridge (network: bridge): its address and what it publishes. */
  network?: { ip?: string; ports: PublishedPort[] };
  /** The image it was created from, as the runtime recorded it (digests of index or manifest). */
  image?: ActualImage;
  /** How its last task ended when the exit alone does not say (kept until a task starts again). */
  termination?: Termination;
}

/** An OOM kill, or a task that could not be created or started (exit code 128, as docker records it). */
export interface Termination {
  reason: 'OOMKilled' | 'StartError';
  exitCode?: number;
  message?: string;
  /** ISO time it was recorded. */
  at?: string;
}

export interface ActualImage {
  digest?: string;
  /** autoUpdate: the spec's image reference, and a digest that failed and is not tried
   * again until the tag moves. */
  ref?: string;
  failedDigest?: string;
}

/** A task lifecycle event from the runtime's event stream. */
export type RuntimeEvent =
  | { type: 'exit'; key: Key; pid: number; exitStatus: number; exitedAt?: Date }
  | { type: 'oom'; key: Key }
  | { type: 'start'; key: Key; pid: number }
  | { type: 'delete'; key: Key }
  /** The stream (re)connected: whatever happened while it was down is unknown; resync. */
  | { type: 'connected' };

export interface CreateOptions {
  /** Restart count to record on the new container. */
  restarts: number;
  /** Create from this digest of the spec's image (there already) instead of what its tag names. */
  imageDigest?: string;
  /** autoUpdate: recorded with the container (see ActualImage). */
  failedDigest?: string;
}

/** How far a pull is: bytes of the image's blobs fetched (or found) and in all (0: not known yet). */
export interface PullProgress {
  done: number;
  total: number;
}

/** What one probe of a health check found. A failing check is a result, never an error. */
export interface ProbeResult {
  healthy: boolean;
  /** What the check printed (exec) or answered (httpGet), bounded by the runtime; "" for none. */
  output: string;
  /** exec: the exit code; httpGet: the HTTP status. */
  code?: number;
  /** The check did not finish within its timeoutSeconds. */
  timedOut?: boolean;
}

/**
 * All the reconciler knows of the runtime. Every method has a deadline; removing what is
 * already gone is success. Errors carry a RuntimeErrorCode.
 */
export interface Runtime {
  /** Every container in converge's namespace, with its task state. */
  list(): Promise<ActualContainer[]>;
  /** One container by key; undefined when it does not exist. */
  get(key: Key): Promise<ActualContainer | undefined>;
  /**
   * Does everything create() would that can fail on the spec's account (image config, user,
   * runtime spec) and creates nothing, so a recreate can refuse a spec before it stops the
   * running container.
   */
  check?(desired: DesiredContainer, options?: Omit<CreateOptions, 'restarts'>): Promise<void>;
  /** Creates snapshot + container (no task). AlreadyExists when the key's container is there. */
  create(desired: DesiredContainer, options: CreateOptions): Promise<void>;
  /** Creates and starts the task of an existing container; deletes a stopped task first. */
  start(key: Key): Promise<{ pid: number }>;
  /**
   * Creates the task of an existing container that has none, without starting it: the costly
   * part of a start, done while a restart waits out its back-off. start() then only starts it.
   * Absent: a restart does all of its start after the back-off.
   */
  prepareStart?(key: Key): Promise<void>;
  /** Stops the task: signal, wait up to graceMs, then SIGKILL; deletes the task. */
  stop(key: Key, signal: string, graceMs: number): Promise<void>;
  /**
   * Stops the task as stop() does (signal, grace, SIGKILL) but keeps it, stopped with its exit
   * status, so that the restart policy reads the exit as any other (an unhealthy task).
   * Absent: stop() is used.
   */
  kill?(key: Key, signal: string, graceMs: number): Promise<void>;
  /**
   * One probe of the desired spec's healthCheck against the key's running task: exec inside
   * it, or httpGet/tcpSocket to its address. Rejects only when the probe could not be made for
   * reasons that are not the container's (runtime unreachable, task gone): those never count
   * as failures. `signal` ends it early (converge stopping): an exec is killed and deleted.
   * Absent: health checks are not run.
   */
  probe?(desired: DesiredContainer, signal?: AbortSignal): Promise<ProbeResult>;
  /** The digest the image reference's tag names at its registry now (one request; nothing pulled). */
  latestDigest?(ref: string): Promise<string>;
  /**
   * Deletes the images converge pulled that no container uses, keeps as a rollback target, or
   * `keep` names (the specs' references); their content and snapshots go with them.
   */
  collectImages?(keep: readonly string[]): Promise<string[]>;
  /** Deletes a stopped task (keeps the container); returns its exit status if there was one. */
  deleteTask(key: Key): Promise<{ exitStatus: number } | undefined>;
  /** Stops and deletes task, container, snapshot and (unless keepLog) its log. Nothing of it is left. */
  remove(key: Key, signal: string, graceMs: number, options?: { keepLog?: boolean }): Promise<void>;
  /** Records the restart count on the container. */
  setRestarts(key: Key, restarts: number): Promise<void>;
  /** Records how the container's task ended (an OOM kill) so that it survives a restart of converge. */
  recordTermination?(key: Key, t: Termination): Promise<void>;
  /** Task events for converge's namespace; emits 'connected' on every (re)connect. */
  events(signal: AbortSignal): AsyncIterable<RuntimeEvent>;
  /**
   * Makes sure image `ref` is there as `policy` says: Never checks, IfNotPresent pulls when
   * missing, Always pulls (cheap when nothing changed). Absent: images must be there already.
   */
  ensureImage?(ref: string, policy: PullPolicy, onProgress?: (p: PullProgress) => void): Promise<void>;
}
