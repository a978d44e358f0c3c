// Carries out one planned action against the Runtime. Each action leaves the key either
// converged or in a state the next reconcile can read and continue from.

import type { Logger } from 'pino';
import { ConvergeError, messageOf } from '../errors.js';
import type { DesiredContainer } from '../spec/types.js';
import { DEFAULTS } from '../spec/types.js';
import { pinnedReference } from '../spec/reference.js';
import type { Action } from './plan.js';
import { isAlreadyExists, type ActualContainer, type CreateOptions, type PullProgress, type Runtime } from './runtime.js';

/** The key's name is held by something converge cannot clear. */
export class ConflictError extends ConvergeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Conflict', message, options);
  }
}

export interface ApplyContext {
  runtime: Runtime;
  log: Logger;
  /** How the image pull before a create is going (for the status). */
  onPullProgress?: (p: PullProgress) => void;
  /** What a create records besides the restart count (autoUpdate's digests). */
  createOptions?: Omit<CreateOptions, 'restarts'>;
  /**
   * A restart of this down period was counted already (an attempt that failed after its
   * count, e.g. containerd still holding a killed shim's task): the retry does not count it
   * again. `onCounted` is told once the count is written.
   */
  restartCounted?: boolean;
  onCounted?: () => void;
}

export interface ApplyResult {
  /** PID of a task this action started. */
  pid?: number;
}

const DEFAULT_STOP = { signal: DEFAULTS.stopSignal, graceMs: DEFAULTS.terminationGracePeriodSeconds * 1000 };

/**
 * How to stop the running container: as its own spec said when it was made (recorded by
 * the runtime), else as the desired spec says, else the defaults.
 */
export function stopOf(actual: ActualContainer | undefined, desired: DesiredContainer | undefined): { signal: string; graceMs: number } {
  if (actual?.stop) return actual.stop;
  if (desired) return { signal: desired.resolved.stopSignal, graceMs: desired.resolved.graceMs };
  return DEFAULT_STOP;
}

export async function applyAction(
  action: Action,
  desired: DesiredContainer | undefined,
  actual: ActualContainer | undefined,
  ctx: ApplyContext,
): Promise<ApplyResult> {
  const { key } = action;
  const { runtime } = ctx;
  switch (action.type) {
    case 'wait':
      return {};
    case 'remove': {
      const stop = stopOf(actual, desired);
      await runtime.remove(key, stop.signal, stop.graceMs);
      return {};
    }
    case 'create':
      await ensureImage(must(desired, action), ctx);
      await createFresh(must(desired, action), ctx);
      return runtime.start(key);
    case 'recreate': {
      // Pulled and checked before the old container goes: a new spec that cannot be pulled
      // or built (an unknown user, say) leaves the old one running.
      await ensureImage(must(desired, action), ctx);
      await runtime.check?.(must(desired, action), ctx.createOptions);
      // The old task stops the way its own spec said (its labels), as docker and kubelet do.
      const stop = stopOf(actual, desired);
      await runtime.remove(key, stop.signal, stop.graceMs, { keepLog: true });
      await createFresh(must(desired, action), ctx);
      return runtime.start(key);
    }
    case 'kill': {
      // Stopped the way its spec says, and kept: the exit goes through the restart policy.
      const stop = stopOf(actual, desired);
      await (runtime.kill ?? runtime.stop).call(runtime, key, stop.signal, stop.graceMs);
      return {};
    }
    case 'start':
      if (actual?.task && actual.task.status !== 'stopped') {
        // A task created but never started (converge died in between): begin again.
        await runtime.stop(key, 'SIGKILL', 0);
      }
      return runtime.start(key);
    case 'restart':
      // Deleted already while the back-off ran, unless it was not read as stopped then.
      if (actual?.task) await runtime.deleteTask(key);
      if (!ctx.restartCounted) {
        await runtime.setRestarts(key, (actual?.restarts ?? 0) + 1);
        ctx.onCounted?.();
      }
      return runtime.start(key);
  }
}

/**
 * Creates the container; on AlreadyExists (a stale container, task or snapshot from an
 * earlier run, or one made by hand in converge's namespace) deletes what is there and
 * tries once more. A second AlreadyExists is reported, not retried hot. What is there is
 * never deleted when converge did not make it and its task runs (it appeared after the
 * plan was made): that is a conflict.
 */
async function createFresh(desired: DesiredContainer, ctx: ApplyContext): Promise<void> {
  const { key } = desired;
  const options = { ...ctx.createOptions, restarts: 0 };
  try {
    await ctx.runtime.create(desired, options);
    return;
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    const there = await ctx.runtime.get(key);
    if (there && !there.managed && there.task && there.task.status !== 'stopped') {
      throw new ConflictError(`container ${there.id} was not made by converge and its task runs; it is left alone`, { cause: err });
    }
    ctx.log.warn({ key, err }, 'removing stale object before create');
  }
  await ctx.runtime.remove(key, 'SIGKILL', 0, { keepLog: true });
  try {
    await ctx.runtime.create(desired, options);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    throw new ConflictError(`container of ${key} still exists after removing the stale one`, { cause: err });
  }
}

/**
 * Pulls the spec's image as its imagePullPolicy says; a container pinned to a digest
 * (autoUpdate) needs that digest, which a pull by digest fetches only when it is missing.
 */
async function ensureImage(desired: DesiredContainer, ctx: ApplyContext): Promise<void> {
  const digest = ctx.createOptions?.imageDigest;
  if (digest) await ctx.runtime.ensureImage?.(pinnedReference(desired.spec.spec.image, digest), 'IfNotPresent', ctx.onPullProgress);
  else await ctx.runtime.ensureImage?.(desired.spec.spec.image, desired.resolved.imagePullPolicy, ctx.onPullProgress);
}

function must(desired: DesiredContainer | undefined, action: Action): DesiredContainer {
  if (!desired) throw new Error(`${action.type} of ${action.key} without a desired spec`);
  return desired;
}
