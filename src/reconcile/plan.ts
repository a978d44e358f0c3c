// The planner: a pure function from (desired, actual) to the actions that make them
// agree. It decides; apply.ts acts. Nothing here touches containerd or the clock.

import type { ActualContainer } from './runtime.js';
import type { DesiredContainer, Key } from '../spec/types.js';
import { restartAt, type BackoffOptions, type RestartState } from '../backoff.js';
import { describeHealth, type HealthState } from './health.js';

export type Action =
  | { type: 'create'; key: Key; reason: string }
  | { type: 'recreate'; key: Key; reason: string }
  | { type: 'start'; key: Key; reason: string }
  | { type: 'restart'; key: Key; reason: string; exitCode: number; consecutive: number }
  | { type: 'remove'; key: Key; reason: string }
  /** Stop a running task that failed its health check; its exit then meets the restart policy. */
  | { type: 'kill'; key: Key; reason: string }
  /** Nothing to do yet; look again at `at` (epoch ms), or when something changes if absent. */
  | { type: 'wait'; key: Key; reason: string; at?: number };

export type ActionType = Action['type'];

export interface PlanContext {
  now: number;
  backoff: BackoffOptions;
  /** Crash-loop memory per key. */
  restarts: ReadonlyMap<Key, RestartState>;
  /** False until every source has been read once: nothing is removed or replaced before. */
  removalAllowed: boolean;
  /** Whether a key's task is running now, for dependsOn. */
  isRunning(key: Key): boolean;
  /**
   * How the key's task ended when it is gone without converge deleting it (a killed shim,
   * containerd deleting it): the exit the event stream reported, else 255 (unknown, as
   * docker records it) when a task was known to exist. Undefined: no task was ever seen.
   */
  vanished?(key: Key): { exitCode: number; exitedAt: number } | undefined;
  /** The health of the key's running task `pid`, when it has a health check being probed. */
  health?(key: Key, pid: number): HealthState | undefined;
  /** Why converge killed the key's last task for failing its health check, if it did. */
  killedUnhealthy?(key: Key): string | undefined;
}

/** The one action for one key, or undefined when the key is converged. */
export function planKey(desired: DesiredContainer | undefined, actual: ActualContainer | undefined, ctx: PlanContext): Action | undefined {
  if (!desired) {
    if (!actual) return undefined;
    if (!ctx.removalAllowed) return { type: 'wait', key: actual.key, reason: 'not removing before every source has been read' };
    return { type: 'remove', key: actual.key, reason: 'no longer desired' };
  }
  const key = desired.key;
  if (!actual) {
    return waitForDependencies(desired, ctx) ?? { type: 'create', key, reason: 'missing' };
  }
  if (actual.specHash !== desired.hash) {
    // Replacing is removing: not before every source has been read, since a source read
    // later may be the one that declared the running container.
    if (!ctx.removalAllowed) return { type: 'wait', key, reason: 'not replacing before every source has been read' };
    const reason = actual.specHash ? 'spec changed' : 'not created by converge (no spec-hash label)';
    return { type: 'recreate', key, reason };
  }
  const task = actual.task;
  if (!task) {
    // A task that vanished exited: its restart policy and back-off decide, like any exit.
    const gone = ctx.vanished?.(key);
    if (gone) return planExited(desired, gone.exitCode, gone.exitedAt, ctx);
    return waitForDependencies(desired, ctx) ?? { type: 'start', key, reason: 'no task' };
  }
  if (task.status === 'created') {
    return { type: 'start', key, reason: 'task created but not started' };
  }
  if (task.status === 'running') return planHealth(desired, task.pid, ctx);
  if (task.status !== 'stopped') return undefined; // paused, pausing, unknown
  return planExited(desired, task.exitStatus ?? 0, task.exitedAt?.getTime() ?? ctx.now, ctx);
}

/**
 * An Unhealthy task is killed so that its restart policy restarts it (kubelet's liveness
 * rule); with restartPolicy Never it is only reported, since nothing would start it again.
 */
function planHealth(desired: DesiredContainer, pid: number, ctx: PlanContext): Action | undefined {
  const health = ctx.health?.(desired.key, pid);
  if (health?.status !== 'Unhealthy' || desired.resolved.restartPolicy === 'Never') return undefined;
  return { type: 'kill', key: desired.key, reason: describeHealth(health) };
}

function planExited(desired: DesiredContainer, exitCode: number, exitedAt: number, ctx: PlanContext): Action | undefined {
  const key = desired.key;
  const policy = desired.resolved.restartPolicy;
  // A task converge killed for its health check restarts under OnFailure whatever its exit
  // code (it may have exited 0 on SIGTERM), as kubelet restarts a failed liveness probe.
  const killed = ctx.killedUnhealthy?.(key);
  if (policy === 'Never') return undefined;
  if (policy === 'OnFailure' && exitCode === 0 && !killed) return undefined;
  const blocked = waitForDependencies(desired, ctx);
  if (blocked) return blocked;
  const { at, consecutive } = restartAt(ctx.restarts.get(key), exitedAt, ctx.backoff);
  const reason = killed ? `killed for its health check (${killed}), restartPolicy ${policy}` : `exited with code ${exitCode}, restartPolicy ${policy}`;
  if (at > ctx.now) return { type: 'wait', key, reason: `back-off restarting: ${reason}`, at };
  return { type: 'restart', key, reason, exitCode, consecutive };
}

function waitForDependencies(desired: DesiredContainer, ctx: PlanContext): Action | undefined {
  const pending = desired.resolved.dependsOn.filter((key) => !ctx.isRunning(key));
  if (pending.length === 0) return undefined;
  const names = pending.map((key) => key.slice(key.indexOf('/') + 1));
  return { type: 'wait', key: desired.key, reason: `waiting for ${names.join(', ')} to run` };
}

/** Every action needed over whole snapshots (used by `converge plan` and the resync). */
export function plan(desired: ReadonlyMap<Key, DesiredContainer>, actual: ReadonlyMap<Key, ActualContainer>, ctx: PlanContext): Action[] {
  const keys = [...new Set([...desired.keys(), ...actual.keys()])].sort();
  const actions: Action[] = [];
  for (const key of keys) {
    const action = planKey(desired.get(key), actual.get(key), ctx);
    if (action) actions.push(action);
  }
  return actions;
}
