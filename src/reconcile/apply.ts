// Carries out one planned action against the Runtime. Each action leaves the key either
// converged or in a state the next reconcile can read and continue from.

import type { Logger } from 'pino';
import type { Action } from './plan.js';
import { idOf, LABEL_STOP_GRACE, LABEL_STOP_SIGNAL, type ActualContainer, type DesiredContainer, type PullProgress, type Runtime } from '../types.js';
import { DEFAULTS } from '../spec/types.js';
import { defaultPullPolicy } from '../pull/reference.js';

export class ConflictError extends Error {
  readonly code = 'Conflict';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConflictError';
  }
}

export interface ApplyContext {
  runtime: Runtime;
  log: Logger;
  /** Default stop for containers whose spec is gone. */
  defaultStop?: { signal: string; graceMs: number };
  /** How the image pull before a create is going (for the status). */
  onPullProgress?: (p: PullProgress) => void;
}

export interface ApplyResult {
  /** PID of a task this action started. */
  pid?: number;
}

/**
 * How to stop the running container: as its own spec said when it was made (the labels
 * recorded at create), else as the desired spec says, else the defaults.
 */
export function stopOf(actual: ActualContainer | undefined, desired: DesiredContainer | undefined, ctx: ApplyContext): { signal: string; graceMs: number } {
  const body = desired?.spec.spec;
  const fallback = ctx.defaultStop ?? { signal: DEFAULTS.stopSignal, graceMs: DEFAULTS.terminationGracePeriodSeconds * 1000 };
  const grace = Number(actual?.labels[LABEL_STOP_GRACE] ?? NaN);
  return {
    signal: actual?.labels[LABEL_STOP_SIGNAL] || body?.stopSignal || fallback.signal,
    graceMs: Number.isFinite(grace) && grace >= 0 ? grace * 1000 : body?.terminationGracePeriodSeconds !== undefined ? body.terminationGracePeriodSeconds * 1000 : fallback.graceMs,
  };
}

export async function applyAction(
  action: Action,
  desired: DesiredContainer | undefined,
  actual: ActualContainer | undefined,
  ctx: ApplyContext,
): Promise<ApplyResult> {
  const id = idOf(action.key);
  const { runtime } = ctx;
  switch (action.type) {
    case 'wait':
      return {};
    case 'remove': {
      const stop = stopOf(actual, desired, ctx);
      await runtime.remove(id, stop.signal, stop.graceMs);
      return {};
    }
    case 'create':
      await ensureImage(must(desired, action), ctx);
      await createFresh(must(desired, action), ctx);
      return runtime.start(id);
    case 'recreate': {
      // Pulled and checked before the old container goes: a new spec that cannot be pulled
      // or built (an unknown user, say) leaves the old one running.
      await ensureImage(must(desired, action), ctx);
      await runtime.check?.(must(desired, action));
      // The old task stops the way its own spec said (its labels), as docker and kubelet do.
      const stop = stopOf(actual, desired, ctx);
      await runtime.remove(id, stop.signal, stop.graceMs, { keepLog: true });
      await createFresh(must(desired, action), ctx);
      return runtime.start(id);
    }
    case 'start':
      if (actual?.task && actual.task.status !== 'stopped') {
        // A task created but never started (converge died in between): begin again.
        await runtime.stop(id, 'SIGKILL', 0);
      }
      return runtime.start(id);
    case 'restart':
      await runtime.deleteTask(id);
      await runtime.setRestarts(id, (actual?.restarts ?? 0) + 1);
      return runtime.start(id);
  }
}

/**
 * Creates the container; on AlreadyExists (a stale container, task or snapshot from an
 * earlier run, or one made by hand in converge's namespace) deletes what is there and
 * tries once more. A second AlreadyExists is reported, not retried hot.
 */
async function createFresh(desired: DesiredContainer, ctx: ApplyContext): Promise<void> {
  const id = idOf(desired.key);
  try {
    await ctx.runtime.create(desired, { restarts: 0 });
    return;
  } catch (err) {
    if (codeOf(err) !== 'AlreadyExists') throw err;
    ctx.log.warn({ key: desired.key, id, err: String(err) }, 'removing stale object before create');
  }
  await ctx.runtime.remove(id, 'SIGKILL', 0, { keepLog: true });
  try {
    await ctx.runtime.create(desired, { restarts: 0 });
  } catch (err) {
    if (codeOf(err) !== 'AlreadyExists') throw err;
    throw new ConflictError(`container ${id} still exists after removing the stale one`, { cause: err });
  }
}

/** Pulls the spec's image as its imagePullPolicy says (Kubernetes' default when unset). */
async function ensureImage(desired: DesiredContainer, ctx: ApplyContext): Promise<void> {
  const body = desired.spec.spec;
  await ctx.runtime.ensureImage?.(body.image, body.imagePullPolicy ?? defaultPullPolicy(body.image), ctx.onPullProgress);
}

function must(desired: DesiredContainer | undefined, action: Action): DesiredContainer {
  if (!desired) throw new Error(`${action.type} of ${action.key} without a desired spec`);
  return desired;
}

export function codeOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
