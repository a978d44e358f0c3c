// One key at a time: read the desired and the actual state, plan one action, apply it,
// and say what the loop should do next. It never acts on the event that woke it, only on
// what it reads (controller-runtime's Reconcile(ctx, Request) -> Result).

import type { Logger } from 'pino';
import type { BackoffOptions } from '../backoff.js';
import type { Clock } from '../clock.js';
import type { DesiredStore } from '../desired.js';
import type { DesiredContainer, Key } from '../spec/types.js';
import { applyAction } from './apply.js';
import { codeOf } from '../errors.js';
import type { Memory, ObservedExit } from './memory.js';
import type { HealthState } from './health.js';
import { dependencyStateOf, planKey, type Action, type PlanContext } from './plan.js';
import { taskMayHaveRun, type ActualContainer, type CreateOptions, type Runtime } from './runtime.js';

export type AppliedAction = Exclude<Action['type'], 'wait'>;

/** What one reconcile did, and what the loop does next. */
export type Result =
  | { type: 'done'; action?: AppliedAction; reason?: string; pid?: number }
  | { type: 'requeueAfter'; ms: number }
  | { type: 'error'; error: unknown; action?: AppliedAction };

export interface ReconcilerDeps {
  runtime: Runtime;
  store: DesiredStore;
  memory: Memory;
  log: Logger;
  clock: Clock;
  backoff: BackoffOptions;
  /** The health of a key's running task, from the prober. */
  health?: (key: Key, pid: number) => HealthState | undefined;
  /** autoUpdate: the digest a key is to run, and what its creates record (the updater). */
  imageTarget?: (key: Key) => { digest: string; reason: string } | undefined;
  createOptions?: (desired: DesiredContainer, actual: ActualContainer | undefined) => Omit<CreateOptions, 'restarts'>;
  /** A read showed the key's task stopped: its exit, told once (default: only remembered). */
  exited?: (key: Key, exit: ObservedExit) => void;
}

export type Reconcile = (key: Key) => Promise<Result>;

/** The actions that start a task. */
const STARTS = new Set<Action['type']>(['create', 'recreate', 'start', 'restart']);

/** How long before a restart is due its task is made (Runtime.prepareStart): short, so a crash-looping container holds a created task only briefly. */
export const PREPARE_LEAD_MS = 1000;

export function createReconciler(deps: ReconcilerDeps): Reconcile {
  const { runtime, store, memory, log, clock, backoff } = deps;

  function planContext(): PlanContext {
    return {
      now: clock.now(),
      backoff,
      restarts: memory.restarts,
      removalAllowed: store.ready(),
      // A dependency as last read, with its health from the prober.
      dependency: (k) => dependencyStateOf(k, store.desired(), memory.actual, deps.health, (d) => memory.vanished(d, clock.now())),
      cycle: (k) => store.cycle(k),
      imageTarget: deps.imageTarget,
      vanished: (k) => memory.vanished(k, clock.now()),
      health: deps.health,
      killed: (k) => memory.states.get(k)?.killed,
      startedAt: (k) => memory.states.get(k)?.startedAt,
      restartRequested: (k) => memory.states.get(k)?.restartRequested !== undefined,
    };
  }

  /**
   * The listing's view when nothing happened to the key since, else a fresh read. A listing
   * that shows no task where converge knew one is read again: containerd 2.x's Tasks.List
   * leaves out a task whose shim did not answer in time, and a task taken for gone would
   * be "restarted" over the running one.
   */
  async function read(key: Key): Promise<ActualContainer | undefined> {
    const listed = memory.takeListed(key);
    if (listed && !(listed.actual && !listed.actual.task && memory.hadTask.has(key))) return listed.actual;
    return memory.setActual(key, await runtime.get(key));
  }

  return async function reconcile(key: Key): Promise<Result> {
    let action: Action | undefined;
    let exitBefore: ObservedExit | undefined;
    try {
      const desired = store.desired().get(key);
      const current = await keepOomKill(key, await read(key));
      const task = current?.task;
      if (task?.status === 'stopped' && task.pid > 0) {
        const exit = { pid: task.pid, exitStatus: task.exitStatus ?? 0, exitedAt: task.exitedAt?.getTime() ?? clock.now() };
        if (deps.exited) deps.exited(key, exit);
        else memory.noteExit(key, exit);
      }
      if (!desired && !current) {
        // Nothing of it anywhere (e.g. the delete event of our own removal): forget the key.
        memory.forget(key);
        return { type: 'done' };
      }
      const ctx = planContext();
      action = planKey(desired, current, ctx);
      const state = memory.state(key);
      const wasWaiting = state.waiting?.reason;
      state.waiting = undefined;
      if (action?.type === 'wait' && action.conflict && wasWaiting !== action.reason) {
        log.warn({ key, reason: action.reason }, 'name held by a container converge did not make; leaving it alone');
      }
      if (!action || action.type === 'wait') {
        // No action was tried, so an error from an earlier one no longer describes the key.
        state.error = undefined;
        const early = action?.release && current && action.at !== undefined ? await beforeRestart(key, current, action.at) : false;
        if (!early) memory.reconciled.set(key, memory.inputsOf(key, desired, ctx.removalAllowed));
        return action ? waitResult(action) : { type: 'done' };
      }
      // Acted: the next resync looks at the key again whatever it finds.
      memory.reconciled.delete(key);
      const child = log.child({ key, action: action.type });
      child.info({ reason: action.reason }, 'applying action');
      const began = clock.now();
      memory.touch(key);
      if (action.type === 'create' || action.type === 'recreate' || action.type === 'remove') {
        // A new container (or none): the old one's task history is not its own.
        memory.exits.delete(key);
        memory.hadTask.delete(key);
      }
      exitBefore = memory.exits.get(key);
      const image = desired?.spec.spec.image ?? '';
      let pid: number | undefined;
      // An OOM kill reported while the action runs is the new task's (a task can die before
      // its start returns): remember() forgets only one reported before.
      const oomBefore = state.oomKilled === true;
      // A task being made for a restart (prepare) is finished first, whatever the action.
      await state.preparing;
      try {
        const onPullProgress = (p: { done: number; total: number }): void => {
          state.pulling = { image, done: p.done, total: p.total };
        };
        const createOptions = desired ? deps.createOptions?.(desired, current) : undefined;
        const counted = { restartCounted: state.restartCounted === true, onCounted: () => void (state.restartCounted = true) };
        ({ pid } = await applyAction(action, desired, current, { runtime, log: child, onPullProgress, createOptions, ...counted }));
      } finally {
        state.pulling = undefined;
      }
      // A listing taken while the action ran may show it half done: read anew instead.
      memory.touch(key);
      remember(action, pid, oomBefore);
      if (action.type === 'kill') state.killed = { reason: action.reason, why: action.why };
      child.info({ reason: action.reason, pid, ms: clock.now() - began }, 'action done');
      if (action.type === 'remove') {
        // Not read back: the answer would be forgotten with the rest of the key, and each
        // call to containerd costs converge ~40 KiB of garbage (grpc-js and node:http2).
        memory.forget(key);
      } else {
        const after = await runtime.get(key);
        memory.setActual(key, after);
        if (!after) state.startedAt = undefined;
        state.error = undefined;
      }
      return { type: 'done', action: action.type, reason: action.reason, pid };
    } catch (error) {
      // The key's actual state is unknown after a failed action: read it next time.
      memory.touch(key);
      if (action && STARTS.has(action.type)) afterFailedStart(key, error, exitBefore);
      return { type: 'error', error, action: action?.type === 'wait' ? undefined : action?.type };
    }
  };

  /** What a failed create, start or restart leaves known about the key's task. */
  function afterFailedStart(key: Key, error: unknown, exitBefore: ObservedExit | undefined): void {
    if (taskMayHaveRun(error)) {
      // Its task may have run: an exit reported meanwhile, or from now on, is that task's.
      memory.state(key).startUncertain = true;
      if (memory.exits.get(key) !== exitBefore) memory.hadTask.add(key);
    }
    // containerd went away during it: the stopped task it may show when it is back is the
    // end of a start it cut (seen exited 1), not an exit of the container's, so the restart
    // that follows is not counted (as a restart counted already is not counted again).
    if (codeOf(error) === 'Unavailable') memory.state(key).restartCounted = true;
  }

  /** A wait: at its time (or, for a restart's back-off, in time to make its task first), or when something changes. */
  function waitResult(action: Extract<Action, { type: 'wait' }>): Result {
    memory.state(action.key).waiting = { reason: action.reason, at: action.at };
    if (action.at === undefined) return { type: 'done' };
    const prepareAt = action.release && runtime.prepareStart && !memory.state(action.key).prepared ? action.at - PREPARE_LEAD_MS : action.at;
    return { type: 'requeueAfter', ms: (prepareAt > clock.now() ? prepareAt : action.at) - clock.now() };
  }

  /**
   * An OOM kill the event stream reported is written onto the container, so that its exit
   * still reads OOMKilled after a restart of converge (the exit alone is a SIGKILL).
   */
  async function keepOomKill(key: Key, current: ActualContainer | undefined): Promise<ActualContainer | undefined> {
    if (!current?.managed || !memory.states.get(key)?.oomKilled || current.termination?.reason === 'OOMKilled' || !runtime.recordTermination) return current;
    const termination = { reason: 'OOMKilled' as const, at: new Date(clock.now()).toISOString() };
    try {
      await runtime.recordTermination(key, termination);
    } catch (err) {
      log.warn({ key, err }, 'OOM kill not recorded on the container');
      return current;
    }
    const next = { ...current, termination };
    memory.setActual(key, next);
    return next;
  }

  /**
   * While a restart waits out its back-off (due at `at`): the stopped task is deleted, and
   * within PREPARE_LEAD_MS of the restart its new task is made and the restart counted, so
   * that the restart itself is only the task's start. True when it did either.
   */
  async function beforeRestart(key: Key, current: ActualContainer, at: number): Promise<boolean> {
    let acted = false;
    if (current.task?.status === 'stopped') {
      await release(key, current);
      acted = true;
    }
    const state = memory.state(key);
    if (runtime.prepareStart && !state.prepared && !memory.actual.get(key)?.task && at - clock.now() <= PREPARE_LEAD_MS) {
      prepare(key, current);
      acted = true;
    }
    return acted;
  }

  /**
   * Makes the task of the coming restart (not started) and writes its count, in the
   * background: the back-off runs on meanwhile, and the key's next action waits for it
   * (KeyState.preparing). The key stays prepared until the restart, whatever fails here:
   * reads hide a created task of a prepared key, and the restart's start takes the task as
   * it finds it (created, or none). Best effort.
   */
  function prepare(key: Key, current: ActualContainer): void {
    const state = memory.state(key);
    state.prepared = true;
    memory.touch(key);
    const making = (async () => {
      try {
        await runtime.prepareStart!(key);
        if (!state.restartCounted) {
          await runtime.setRestarts(key, current.restarts + 1);
          state.restartCounted = true;
          memory.setActual(key, { ...(memory.actual.get(key) ?? current), restarts: current.restarts + 1 });
        }
      } catch (err) {
        log.debug({ key, err }, 'task not made before its restart; the restart makes it');
      }
      memory.touch(key);
    })();
    state.preparing = making;
    void making.then(() => {
      if (state.preparing === making) state.preparing = undefined;
    });
  }

  /**
   * Deletes the stopped task of a restart that waits out its back-off, so that the restart
   * itself is only a new task (the delete, a shim's teardown, costs as much as the start).
   * Its exit stays in memory, where the back-off, the plan and the status read it as the
   * exit of a task that is gone (Memory.vanished). Best effort: the restart deletes it too.
   */
  async function release(key: Key, current: ActualContainer): Promise<void> {
    const task = current.task!;
    if (!memory.exits.has(key)) {
      memory.exits.set(key, { pid: task.pid, exitStatus: task.exitStatus ?? 0, exitedAt: task.exitedAt?.getTime() ?? clock.now() });
    }
    memory.hadTask.add(key);
    memory.touch(key);
    try {
      await runtime.deleteTask(key);
      memory.setActual(key, { ...current, task: undefined });
    } catch (err) {
      log.debug({ key, err }, 'stopped task not deleted before its restart; the restart deletes it');
    }
  }

  /** Crash-loop memory after an action: what the back-off of the next exit starts from. */
  function remember(action: Action, pid: number | undefined, oomBefore: boolean): void {
    const key = action.key;
    const now = clock.now();
    switch (action.type) {
      case 'create':
      case 'recreate':
        memory.restarts.set(key, { consecutive: 0, startedAt: now });
        break;
      case 'restart':
        memory.restarts.set(key, { consecutive: action.consecutive + 1, startedAt: now });
        break;
      case 'start':
        memory.restarts.set(key, { consecutive: memory.restarts.get(key)?.consecutive ?? 0, startedAt: now });
        break;
      default:
        return;
    }
    const state = memory.state(key);
    if (oomBefore) state.oomKilled = undefined; // a new task: an OOM kill of the old one is history
    state.killed = undefined;
    state.restartRequested = undefined;
    state.restartCounted = undefined;
    state.prepared = undefined;
    state.startUncertain = undefined;
    // The old task's exit is history; the new task's own (a short task can end before its
    // start returns, and its event arrive meanwhile) is kept.
    if (memory.exits.get(key)?.pid !== pid || pid === undefined) memory.exits.delete(key);
    memory.hadTask.add(key);
    if (pid !== undefined) state.startedAt = now;
  }
}
