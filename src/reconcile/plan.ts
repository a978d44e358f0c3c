// The planner: a pure function from (desired, actual) to the actions that make them
// agree. It decides; apply.ts acts. Nothing here touches containerd or the clock.
//
// Only containers converge made (ActualContainer.managed) are ever removed, restarted or
// replaced. One it did not make is left alone when nothing declares its key; when a spec
// does, it is a conflict while its task runs, and a stale object (no running task) to
// replace once it is not.

import type { ActualContainer } from './runtime.js';
import type { Dependency, DesiredContainer, Key } from '../spec/types.js';
import { restartAt, type BackoffOptions, type RestartState } from '../backoff.js';
import { describeHealth, type HealthState, type HealthStatus } from './health.js';

export type Action =
  | { type: 'create'; key: Key; reason: string }
  | { type: 'recreate'; key: Key; reason: string }
  | { type: 'start'; key: Key; reason: string }
  | { type: 'restart'; key: Key; reason: string; exitCode: number; consecutive: number }
  | { type: 'remove'; key: Key; reason: string }
  /**
   * Stop a running task: it failed its health check (its exit then meets the restart policy),
   * or a dependency it asked to follow (restart: true) has a new task (it starts again).
   */
  | { type: 'kill'; key: Key; reason: string; why: KillCause }
  /**
   * Nothing to do yet; look again at `at` (epoch ms), or when something changes if absent.
   * `conflict`: the key's name is held by a container converge did not make. `release`: a
   * restart waits out its back-off, so its stopped task may be deleted meanwhile.
   */
  | { type: 'wait'; key: Key; reason: string; at?: number; conflict?: true; release?: true };

export type ActionType = Action['type'];

/** Why converge stops a running task: its health check, a dependency's new task, or a user's `converge restart`. */
export type KillCause = 'health' | 'dependency' | 'restart';

/** A dependency as the planner sees it. */
export interface DependencyState {
  /** Some source declares it. */
  declared: boolean;
  /** Its task, if it has one: running, or stopped with an exit code. */
  task?: { status: 'running'; health?: HealthStatus } | { status: 'stopped'; exitCode: number } | { status: 'other' };
  /** Its spec has a healthCheck. */
  hasCheck: boolean;
}

export interface PlanContext {
  now: number;
  backoff: BackoffOptions;
  /** Crash-loop memory per key. */
  restarts: ReadonlyMap<Key, RestartState>;
  /** False until every source has been read once: nothing is removed or replaced before. */
  removalAllowed: boolean;
  /** What a dependency is doing now, for dependsOn. */
  dependency(key: Key): DependencyState;
  /** The dependsOn cycle the key is part of ("a -> b -> a"); its members wait. */
  cycle?(key: Key): string | undefined;
  /** autoUpdate: the image digest the key is to run while an update or a rollback is under way. */
  imageTarget?(key: Key): { digest: string; reason: string } | undefined;
  /**
   * How the key's task ended when it is gone without converge deleting it (a killed shim,
   * containerd deleting it): the exit the event stream reported, else 255 (unknown, as
   * docker records it) when a task was known to exist. Undefined: no task was ever seen.
   */
  vanished?(key: Key): { exitCode: number; exitedAt: number } | undefined;
  /** The health of the key's running task `pid`, when it has a health check being probed. */
  health?(key: Key, pid: number): HealthState | undefined;
  /** Why converge killed the key's last task, if it did. */
  killed?(key: Key): { reason: string; why: KillCause } | undefined;
  /** When converge started the key's current task (epoch ms); undefined for adopted tasks. */
  startedAt?(key: Key): number | undefined;
  /** Someone asked to restart the key now (`converge restart`) and it has not been done yet. */
  restartRequested?(key: Key): boolean;
}

/** The one action for one key, or undefined when the key is converged. */
export function planKey(desired: DesiredContainer | undefined, actual: ActualContainer | undefined, ctx: PlanContext): Action | undefined {
  if (actual && !actual.managed) return planForeign(desired, actual, ctx);
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
    // The new spec waits for its dependencies as a create would; the old one runs meanwhile.
    return waitForDependencies(desired, ctx) ?? { type: 'recreate', key, reason };
  }
  // An auto-update (or its rollback) replaces the container with the same spec on another digest.
  const pin = desired.resolved.autoUpdate ? ctx.imageTarget?.(key) : undefined;
  if (pin && actual.image?.digest !== pin.digest) {
    if (!ctx.removalAllowed) return { type: 'wait', key, reason: 'not replacing before every source has been read' };
    return { type: 'recreate', key, reason: pin.reason };
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
  if (task.status === 'running') {
    // Stopped the way its spec says and kept, so that the restart below reads it as any exit.
    if (ctx.restartRequested?.(key)) return { type: 'kill', key, reason: 'restart requested', why: 'restart' };
    return planFollow(desired, ctx) ?? planHealth(desired, task.pid, ctx);
  }
  if (task.status !== 'stopped') return undefined; // paused, pausing, unknown
  return planExited(desired, task.exitStatus ?? 0, task.exitedAt?.getTime() ?? ctx.now, ctx);
}

/** A task that is there and has not ended: it may hold files, ports, data. */
const taskLives = (actual: ActualContainer): boolean => actual.task !== undefined && actual.task.status !== 'stopped';

function planForeign(desired: DesiredContainer | undefined, actual: ActualContainer, ctx: PlanContext): Action | undefined {
  if (!desired) return undefined; // not converge's, and nothing asks for its name: not converge's business
  if (taskLives(actual)) {
    const reason = `conflict: container ${actual.id} was not made by converge (no converge.dev/managed label) and its task runs; it is left alone, and ${desired.key} waits until it is gone`;
    return { type: 'wait', key: desired.key, reason, conflict: true };
  }
  if (!ctx.removalAllowed) return { type: 'wait', key: desired.key, reason: 'not replacing before every source has been read' };
  return { type: 'recreate', key: desired.key, reason: 'a stale container not made by converge (no running task) holds the name' };
}

/**
 * An Unhealthy task is killed so that its restart policy restarts it (kubelet's liveness
 * rule); with restartPolicy Never it is only reported, since nothing would start it again.
 */
function planHealth(desired: DesiredContainer, pid: number, ctx: PlanContext): Action | undefined {
  const health = ctx.health?.(desired.key, pid);
  if (health?.status !== 'Unhealthy' || desired.resolved.restartPolicy === 'Never') return undefined;
  return { type: 'kill', key: desired.key, reason: describeHealth(health), why: 'health' };
}

/**
 * A dependency with restart: true got a new task (recreated or restarted) after this task
 * started: this one is stopped and started again (docker compose's `restart: true`).
 * Without it a dependent keeps running, as compose's default is.
 */
function planFollow(desired: DesiredContainer, ctx: PlanContext): Action | undefined {
  const own = ctx.startedAt?.(desired.key) ?? -Infinity; // adopted: started before this converge
  for (const dep of desired.resolved.dependsOn) {
    const theirs = dep.restart ? ctx.startedAt?.(dep.key) : undefined;
    if (theirs !== undefined && theirs > own) {
      const name = dep.key.slice(dep.key.indexOf('/') + 1);
      return { type: 'kill', key: desired.key, reason: `${name} has a new task (restart: true)`, why: 'dependency' };
    }
  }
  return undefined;
}

function planExited(desired: DesiredContainer, exitCode: number, exitedAt: number, ctx: PlanContext): Action | undefined {
  const key = desired.key;
  const policy = desired.resolved.restartPolicy;
  // A task converge killed for its health check restarts under OnFailure whatever its exit
  // code (it may have exited 0 on SIGTERM), as kubelet restarts a failed liveness probe; one
  // stopped to follow a dependency starts again whatever its policy.
  const killed = ctx.killed?.(key);
  // A restart someone asked for starts it again now, whatever its policy and back-off.
  if (ctx.restartRequested?.(key)) {
    return waitForDependencies(desired, ctx) ?? { type: 'restart', key, reason: 'restart requested', exitCode, consecutive: 0 };
  }
  if (policy === 'Never' && killed?.why !== 'dependency') return undefined;
  if (policy === 'OnFailure' && exitCode === 0 && !killed) return undefined;
  const blocked = waitForDependencies(desired, ctx);
  if (blocked) return blocked;
  const { at, consecutive } = restartAt(ctx.restarts.get(key), exitedAt, ctx.backoff);
  const reason = !killed
    ? `exited with code ${exitCode}, restartPolicy ${policy}`
    : killed.why === 'health' ? `killed for its health check (${killed.reason}), restartPolicy ${policy}` : `stopped because ${killed.reason}`;
  if (at > ctx.now) return { type: 'wait', key, reason: `back-off restarting: ${reason}`, at, release: true };
  return { type: 'restart', key, reason, exitCode, consecutive };
}

function waitForDependencies(desired: DesiredContainer, ctx: PlanContext): Action | undefined {
  const key = desired.key;
  const cycle = ctx.cycle?.(key);
  if (cycle) return { type: 'wait', key, reason: `part of the dependency cycle ${cycle}` };
  const pending: string[] = [];
  for (const dep of desired.resolved.dependsOn) {
    const why = unmet(dep, ctx.dependency(dep.key));
    if (why) pending.push(why);
  }
  if (pending.length === 0) return undefined;
  return { type: 'wait', key, reason: `waiting for ${pending.join('; ')}` };
}

/** A dependency's state from the desired and actual maps (and the prober's health, if any). */
export function dependencyStateOf(
  key: Key,
  desired: ReadonlyMap<Key, DesiredContainer>,
  actual: ReadonlyMap<Key, ActualContainer>,
  health?: (key: Key, pid: number) => HealthState | undefined,
  vanished?: PlanContext['vanished'],
): DependencyState {
  const d = desired.get(key);
  const container = actual.get(key);
  const task = container?.task;
  const state: DependencyState = { declared: d !== undefined, hasCheck: d?.resolved.healthCheck !== undefined };
  if (task?.status === 'running') state.task = { status: 'running', health: health?.(key, task.pid)?.status };
  else if (task?.status === 'stopped') state.task = { status: 'stopped', exitCode: task.exitStatus ?? 0 };
  else if (task) state.task = { status: 'other' };
  else if (container) {
    // A task containerd deleted after it ended (2.x does so when it restarts) still ended:
    // a Completed dependency stays completed with the exit converge saw.
    const gone = vanished?.(key);
    if (gone) state.task = { status: 'stopped', exitCode: gone.exitCode };
  }
  return state;
}

/** What keeps one dependency's condition from being met, or undefined when it is met. */
export function unmet(dep: Dependency, state: DependencyState): string | undefined {
  const name = dep.key.slice(dep.key.indexOf('/') + 1);
  if (!state.declared) return `${name} (no source declares it)`;
  const task = state.task;
  switch (dep.condition) {
    case 'Started':
      return task?.status === 'running' ? undefined : `${name} to run`;
    case 'Healthy':
      if (!state.hasCheck) return `${name} to be healthy (it has no healthCheck)`;
      if (task?.status !== 'running') return `${name} to run and pass its health check`;
      return task.health === 'Healthy' ? undefined : `${name} to pass its health check (${task.health ?? 'Starting'})`;
    case 'Completed':
      if (task?.status === 'stopped') return task.exitCode === 0 ? undefined : `${name} to complete (it exited with code ${task.exitCode})`;
      return `${name} to complete${task?.status === 'running' ? ' (running)' : ''}`;
  }
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
