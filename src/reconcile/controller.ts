// The controller: sources feed the desired store, containerd's event stream and a
// periodic resync feed the work queue, and N workers run reconcile(key): read desired
// and actual for the key, plan one action, apply it. It never acts on the event that
// woke it, only on the state it reads.

import type { Logger } from 'pino';
import { idOf, keyOfId, LABEL_SOURCE, type ActualContainer, type Key, type Runtime } from '../types.js';
import type { Source } from '../sources/source.js';
import { createDesiredStore, type DesiredStore } from '../desired.js';
import { WorkQueue } from './queue.js';
import { systemClock, type Clock } from './clock.js';
import { DEFAULT_BACKOFF, FailureRateLimiter, type BackoffOptions, type RestartState } from './backoff.js';
import { planKey, type Action, type PlanContext } from './plan.js';
import { applyAction, codeOf } from './apply.js';
import { buildStatus, type KeyState, type StatusRow } from './status.js';
import type { Metrics } from '../server/metrics.js';

export interface ControllerOptions {
  runtime: Runtime;
  sources: Source[];
  log: Logger;
  clock?: Clock;
  workers?: number;
  resyncMs?: number;
  backoff?: BackoffOptions;
  metrics?: Metrics;
}

export interface Controller {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True once the first full reconcile after start is done. */
  ready(): boolean;
  status(): StatusRow[];
  store: DesiredStore;
  /** True when nothing is queued or running (tests and benchmarks await this). */
  idle(): boolean;
  /** Lists containerd and enqueues every known key. */
  resync(): Promise<void>;
  /** Called after every reconcile of a key (the Kubernetes source writes status and events from it). */
  onReconcile(listener: (e: ReconcileEvent) => void): () => void;
}

/** One finished reconcile: the action applied (if any), or the error it failed with. */
export interface ReconcileEvent {
  key: Key;
  action?: Exclude<Action['type'], 'wait'>;
  reason?: string;
  pid?: number;
  error?: { code: string; message: string };
}

export function createController(opts: ControllerOptions): Controller {
  const { runtime, log } = opts;
  const clock = opts.clock ?? systemClock;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const workers = opts.workers ?? 8;
  const resyncMs = opts.resyncMs ?? 60_000;
  const store = createDesiredStore(opts.sources.map((s) => s.name));
  // Failed reconciles (a start that fails, an image that cannot be pulled) back off on the
  // same flags as restarts, so a crash loop looks the same whichever way it fails.
  const queue = new WorkQueue(clock, new FailureRateLimiter(backoff.initialMs, backoff.maxMs));
  const abort = new AbortController();
  const actual = new Map<Key, ActualContainer>();
  const restarts = new Map<Key, RestartState>();
  const states = new Map<Key, KeyState>();
  let initialPending: Set<Key> | undefined;
  let isReady = false;
  let resyncTimer: unknown;
  let running: Promise<void>[] = [];
  let stopped = false;
  const reconcileListeners = new Set<(e: ReconcileEvent) => void>();
  const applied = new Map<Key, Omit<ReconcileEvent, 'key'>>();

  function notifyReconciled(key: Key, error?: ReconcileEvent['error']): void {
    const event: ReconcileEvent = { key, ...applied.get(key), ...(error ? { error } : {}) };
    applied.delete(key);
    for (const listener of [...reconcileListeners]) {
      try {
        listener(event);
      } catch (err) {
        log.error({ key, err: String(err) }, 'reconcile listener failed');
      }
    }
  }

  const stateOf = (key: Key): KeyState => {
    let s = states.get(key);
    if (!s) states.set(key, (s = {}));
    return s;
  };

  store.onChange((keys) => {
    for (const key of keys) queue.add(key);
    for (const key of dependentsOf(keys)) queue.add(key);
  });

  function dependentsOf(keys: Iterable<Key>): Key[] {
    const wanted = new Set(keys);
    const out: Key[] = [];
    for (const d of store.desired().values()) {
      if ((d.spec.spec.dependsOn ?? []).some((name) => wanted.has(`${d.namespace}/${name}`))) out.push(d.key);
    }
    return out;
  }

  function planContext(): PlanContext {
    return {
      now: clock.now(),
      backoff,
      restarts,
      removalAllowed: store.ready(),
      isRunning: (k) => actual.get(k)?.task?.status === 'running',
    };
  }

  async function reconcile(key: Key): Promise<void> {
    const desired = store.desired().get(key);
    const current = await runtime.get(idOf(key));
    if (current) actual.set(key, current);
    else actual.delete(key);
    if (!desired && !current) {
      // Nothing of it anywhere (e.g. the delete event of our own removal): forget the key.
      states.delete(key);
      restarts.delete(key);
      return;
    }
    const action = planKey(desired, current, planContext());
    const state = stateOf(key);
    state.waiting = undefined;
    if (!action) {
      state.error = undefined;
      return;
    }
    if (action.type === 'wait') {
      // No action was tried, so an error from an earlier one no longer describes the key.
      state.error = undefined;
      state.waiting = { reason: action.reason, at: action.at };
      if (action.at !== undefined) queue.addAfter(key, action.at - clock.now());
      return;
    }
    const child = log.child({ key, action: action.type });
    child.info({ reason: action.reason }, 'applying action');
    const began = clock.now();
    const image = desired?.spec.spec.image ?? '';
    const onPullProgress = (p: { done: number; total: number }): void => {
      state.pulling = { image, done: p.done, total: p.total };
    };
    let result;
    try {
      result = await applyAction(action, desired, current, { runtime, log: child, onPullProgress });
    } finally {
      state.pulling = undefined;
    }
    opts.metrics?.actions.inc({ action: action.type });
    noteApplied(action, result.pid);
    child.info({ reason: action.reason, pid: result.pid, ms: clock.now() - began }, 'action done');
    const after = await runtime.get(idOf(key));
    if (after) actual.set(key, after);
    else actual.delete(key);
    if (!after) state.startedAt = undefined;
    state.error = undefined;
    if (action.type !== 'remove') for (const dep of dependentsOf([key])) queue.add(dep);
  }

  function noteApplied(action: Action, pid: number | undefined): void {
    const key = action.key;
    if (action.type !== 'wait') applied.set(key, { action: action.type, reason: action.reason, pid });
    const now = clock.now();
    switch (action.type) {
      case 'remove':
        restarts.delete(key);
        states.delete(key);
        return;
      case 'create':
      case 'recreate':
        restarts.set(key, { consecutive: 0, startedAt: now });
        break;
      case 'restart':
        restarts.set(key, { consecutive: action.consecutive + 1, startedAt: now });
        break;
      case 'start':
        restarts.set(key, { consecutive: restarts.get(key)?.consecutive ?? 0, startedAt: now });
        break;
    }
    const state = stateOf(key);
    state.oomKilled = undefined; // a new task: an OOM kill of the old one is history
    if (pid !== undefined) state.startedAt = now;
  }

  async function worker(): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await reconcile(key);
        notifyReconciled(key);
        queue.forget(key);
        opts.metrics?.reconciles.inc({ result: 'ok' });
      } catch (err) {
        const delay = queue.addRateLimited(key);
        const message = err instanceof Error ? err.message : String(err);
        stateOf(key).error = { code: codeOf(err) ?? 'Error', message };
        opts.metrics?.reconciles.inc({ result: 'error' });
        log.warn({ key, code: codeOf(err), err: message, retryInMs: delay }, 'reconcile failed');
        notifyReconciled(key, stateOf(key).error);
      } finally {
        queue.done(key);
        if (initialPending?.delete(key) && initialPending.size === 0) markReady();
      }
    }
  }

  function markReady(): void {
    if (isReady || !store.ready()) return;
    isReady = true;
    log.info({ containers: actual.size, desired: store.desired().size }, 'first full reconcile done');
  }

  async function resync(): Promise<void> {
    const listed = await runtime.list();
    const seen = new Set<Key>();
    for (const c of listed) {
      seen.add(c.key);
      actual.set(c.key, c);
    }
    for (const key of [...actual.keys()]) if (!seen.has(key)) actual.delete(key);
    // Only keys that the listing shows out of step (or that failed last time) are queued:
    // reading 1,000 converged containers again one by one would cost far more than the list.
    const desired = store.desired();
    const ctx = planContext();
    const due: Key[] = [];
    for (const key of new Set<Key>([...desired.keys(), ...seen])) {
      const state = states.get(key);
      const action = state?.error ? undefined : planKey(desired.get(key), actual.get(key), ctx);
      if (state?.error || (action && action.type !== 'wait')) {
        due.push(key);
      } else if (action?.type === 'wait') {
        // Waiting (on a dependency, a back-off, or every source): say so, look again when due.
        stateOf(key).waiting = { reason: action.reason, at: action.at };
        if (action.at !== undefined) queue.addAfter(key, action.at - ctx.now);
      } else if (state) {
        state.waiting = undefined;
      }
    }
    if (!isReady && store.ready() && !initialPending) {
      initialPending = new Set(due);
      if (due.length === 0) markReady();
    }
    for (const key of due) queue.add(key);
  }

  /** Resyncs until containerd answers (it may be starting, or restarting). */
  async function resyncUntilDone(): Promise<void> {
    let delay = 100;
    while (!stopped) {
      try {
        await resync();
        return;
      } catch (err) {
        log.warn({ err: String(err), retryInMs: delay }, 'listing containers failed');
        await new Promise<void>((resolve) => clock.setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  function scheduleResync(): void {
    resyncTimer = clock.setTimeout(() => {
      void resyncUntilDone().finally(() => {
        if (!stopped) scheduleResync();
      });
    }, resyncMs);
  }

  /**
   * Tells the store which origin each running container came from, so that a name two
   * sources declare goes back to the one that declared it before converge restarted. Best
   * effort: with containerd down, plain arrival order decides.
   */
  async function preferRunningClaims(): Promise<void> {
    try {
      const listed = await runtime.list();
      const origins = new Map<Key, string>();
      for (const c of listed) {
        const origin = c.labels[LABEL_SOURCE];
        if (origin) origins.set(c.key, origin);
      }
      store.prefer(origins);
    } catch (err) {
      log.warn({ err: String(err) }, 'could not list containers before reading sources');
    }
  }

  async function watchEvents(): Promise<void> {
    let connectedOnce = false;
    for await (const event of runtime.events(abort.signal)) {
      if (event.type === 'connected') {
        // Whatever happened while the stream was down is unknown: read everything again.
        if (connectedOnce) log.info({}, 'event stream reconnected; resyncing');
        connectedOnce = true;
        if (store.ready()) void resyncUntilDone();
        continue;
      }
      const key = keyOfId(event.id);
      if (event.type === 'oom') stateOf(key).oomKilled = true;
      if (event.type === 'exit') {
        log.info({ key, pid: event.pid, exitStatus: event.exitStatus }, 'task exited');
        const cur = actual.get(key);
        if (cur?.task && cur.task.pid === event.pid) {
          cur.task = { ...cur.task, status: 'stopped', exitStatus: event.exitStatus, exitedAt: event.exitedAt };
        }
      }
      queue.add(key);
    }
  }

  return {
    store,
    async start() {
      running = Array.from({ length: workers }, () => worker());
      running.push(
        watchEvents().catch((err) => {
          if (!abort.signal.aborted) log.error({ err: String(err) }, 'event stream ended');
        }),
      );
      let wasReady = false;
      store.onChange(() => {
        // A source that was unreadable has now been read: removals are allowed, so look at
        // every container once more.
        if (!wasReady && store.ready()) {
          wasReady = true;
          void resyncUntilDone();
        }
      });
      await preferRunningClaims();
      await Promise.all(opts.sources.map((s) => s.start((snap) => store.update(snap))));
      if (!wasReady && store.ready()) {
        wasReady = true;
        await resyncUntilDone();
      }
      scheduleResync();
    },
    async stop() {
      stopped = true;
      abort.abort();
      if (resyncTimer !== undefined) clock.clearTimeout(resyncTimer);
      await Promise.all(opts.sources.map((s) => s.stop()));
      queue.shutdown();
      await Promise.allSettled(running);
    },
    ready: () => isReady,
    onReconcile(listener) {
      reconcileListeners.add(listener);
      return () => reconcileListeners.delete(listener);
    },
    idle: () => queue.idle(),
    resync: resyncUntilDone,
    status(): StatusRow[] {
      return buildStatus(store, actual, states, restarts, clock.now());
    },
  };
}
