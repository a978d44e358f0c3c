// The loop around reconcile(key): sources feed the desired store, and the store, the
// runtime's event stream and a periodic resync only add keys to the work queue. N workers
// take a key, reconcile it and switch on the Result; nothing else plans or acts.

import type { Logger } from 'pino';
import { Backoff, DEFAULT_BACKOFF, FailureRateLimiter, sleepOn, type BackoffOptions } from '../backoff.js';
import { systemClock, type Clock } from '../clock.js';
import { createDesiredStore, type DesiredStore, type Gate, type Source } from '../desired.js';
import { codeOf, messageOf } from '../errors.js';
import type { Key, Snapshot } from '../spec/types.js';
import { Memory, type ObservedExit } from './memory.js';
import { describeHealth } from './health.js';
import { Prober, type HealthChange } from './prober.js';
import type { WheelOptions } from './wheel.js';
import { Updater } from './updater.js';
import type { UpdateRecord } from './update.js';
import { WorkQueue } from './queue.js';
import { createReconciler, type AppliedAction, type Result } from './reconciler.js';
import type { Runtime } from './runtime.js';
import { askRestart, type RestartAsk } from './restart.js';
import { preferRunningClaims } from './claims.js';
import { buildStatus, type StatusRow } from './status.js';

export type { RestartAsk };

export interface ControllerOptions {
  runtime: Runtime;
  sources: Source[];
  /** What may run and which sources may be empty (the policy); default OPEN_GATE. */
  gate?: Gate;
  log: Logger;
  clock?: Clock;
  workers?: number;
  resyncMs?: number;
  backoff?: BackoffOptions;
  /** Health probes running at once, at most (default 16). */
  probeConcurrency?: number;
  /** The probe wheel's resolution (tests). */
  probeWheel?: WheelOptions;
  /** autoUpdate: how often tags are checked (default 15 min) and how long a new digest has to prove itself (default 60 s). */
  autoUpdate?: { intervalMs?: number; windowMs?: number; onOutcome?: (key: Key, record: UpdateRecord) => void };
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
  /** Lists the runtime and enqueues every known key. */
  resync(): Promise<void>;
  /** Called after every reconcile of a key: the status stream publishers read. */
  onReconcile(listener: (e: ReconcileEvent) => void): () => void;
  /** Called after every health probe that counted (a transition when the status differs). */
  onHealth(listener: (e: HealthChange) => void): () => void;
  /** The health checks' scheduler (tests and benchmarks read its counts and spread). */
  prober: Prober;
  /** autoUpdate's checks, updates and rollbacks (`converge auto-update` asks it). */
  updater: Updater;
  /** Starts reading one more source (SIGHUP); resolves after its first read. */
  addSource(source: Source): Promise<void>;
  /** Stops reading a source and forgets what it declared: its containers are removed. */
  removeSource(name: string): Promise<void>;
  /** New restart and retry back-off (SIGHUP); counts so far are kept. */
  setBackoff(backoff: BackoffOptions): void;
  /** `converge restart`: the key's next reconcile stops its task and starts a new one (restart.ts). */
  requestRestart(key: Key): RestartAsk;
  /** Keys waiting in the work queue (not those being reconciled). */
  queueDepth(): number;
  /** Each source's last complete read (epoch ms), by source name. */
  sourceSyncs(): ReadonlyMap<string, number>;
}

/** One finished reconcile: the action applied (if any), or the error it failed with. */
export interface ReconcileEvent {
  key: Key;
  action?: AppliedAction;
  reason?: string;
  pid?: number;
  error?: { code: string; message: string };
  /** How long the reconcile took. */
  ms?: number;
}

export function createController(opts: ControllerOptions): Controller {
  const { runtime, log } = opts;
  const clock = opts.clock ?? systemClock;
  // Owned: setBackoff changes it in place, and the reconciler reads it at every plan.
  const backoff: BackoffOptions = { ...(opts.backoff ?? DEFAULT_BACKOFF) };
  const sources = [...opts.sources];
  const resyncMs = opts.resyncMs ?? 60_000;
  const store = createDesiredStore(opts.sources.map((s) => s.name), opts.gate, opts.log);
  // Failed reconciles (a start that fails, an image that cannot be pulled) back off on the
  // same flags as restarts, so a crash loop looks the same whichever way it fails.
  const limiter = new FailureRateLimiter(backoff.initialMs, backoff.maxMs);
  const queue = new WorkQueue(clock, limiter);
  const memory = new Memory();
  const healthListeners = new Set<(e: HealthChange) => void>();
  const prober = new Prober({ runtime, clock, log, onProbe: probed, concurrency: opts.probeConcurrency, wheel: opts.probeWheel });
  const health = (key: Key, pid: number) => prober.health(key, pid);
  const updater = new Updater({
    runtime,
    clock,
    log,
    intervalMs: opts.autoUpdate?.intervalMs ?? 15 * 60_000,
    windowMs: opts.autoUpdate?.windowMs ?? 60_000,
    desired: () => store.desired(),
    actual: (key) => memory.actual.get(key),
    healthy: (key, pid) => prober.health(key, pid)?.status === 'Healthy',
    enqueue: (key, ms) => (ms ? queue.addAfter(key, ms) : queue.add(key)),
    onOutcome: opts.autoUpdate?.onOutcome,
  });
  memory.extraInputs = (key) => {
    const healthOf = (k: Key): string => {
      const t = memory.actual.get(k)?.task;
      return t?.status === 'running' ? (prober.health(k, t.pid)?.status ?? '') : '';
    };
    const deps = store.desired().get(key)?.resolved.dependsOn ?? [];
    return [healthOf(key), ...deps.map((d) => healthOf(d.key)), updater.imageTarget(key)?.digest ?? '', store.cycle(key) ?? ''].join(',');
  };
  /** A task's exit, told once however converge learned it (Memory.noteExit). */
  function exited(key: Key, exit: ObservedExit, seenBy: 'event' | 'read'): void {
    if (!memory.noteExit(key, exit)) return;
    log.info({ key, pid: exit.pid, exitStatus: exit.exitStatus, ...(seenBy === 'read' ? { seenBy } : {}) }, 'task exited');
    updater.exited(key, exit.exitStatus);
  }
  const reconcile = createReconciler({
    runtime, store, memory, log, clock, backoff, health,
    exited: (key, exit) => exited(key, exit, 'read'),
    imageTarget: (key) => updater.imageTarget(key),
    createOptions: (desired, actual) => updater.createOptions(desired, actual),
  });
  const abort = new AbortController();
  const listeners = new Set<(e: ReconcileEvent) => void>();
  let initialPending: Set<Key> | undefined;
  let isReady = false;
  let resyncTimer: unknown;
  let running: Promise<void>[] = [];
  const syncs = new Map<string, number>();
  const onSnapshot = (snap: Snapshot): void => {
    store.update(snap);
    if (snap.complete) syncs.set(snap.source, clock.now());
  };

  store.onChange((keys) => {
    for (const key of keys) queue.add(key);
    for (const key of dependentsOf(keys)) queue.add(key);
  });

  function dependentsOf(keys: Iterable<Key>): Key[] {
    const wanted = new Set(keys);
    const out: Key[] = [];
    for (const d of store.desired().values()) if (d.resolved.dependsOn.some((dep) => wanted.has(dep.key))) out.push(d.key);
    return out;
  }

  /** A probe counted: a change of health is a fact for the reconcile (kill) and the dependents. */
  function probed(change: HealthChange): void {
    const { key, before, after } = change;
    if (before.status !== after.status) {
      const fields = { key, pid: change.pid, health: after.status, was: before.status, failures: after.failures, output: after.last?.output };
      if (after.status === 'Unhealthy') log.warn(fields, `health changed: ${describeHealth(after)}`);
      else log.info(fields, 'health changed');
      queue.add(key);
      for (const dep of dependentsOf([key])) queue.add(dep);
    }
    for (const listener of [...healthListeners]) {
      try {
        listener(change);
      } catch (err) {
        log.error({ key, err }, 'health listener failed');
      }
    }
  }

  /** The key's task as last read, as far as dependsOn conditions go. */
  function taskSignature(key: Key): string {
    const t = memory.actual.get(key)?.task;
    return t ? `${t.status}:${t.pid}:${t.exitStatus ?? ''}` : 'none';
  }

  /** The switch on the Result: the only place that decides when a key runs again. */
  function settle(key: Key, result: Result): ReconcileEvent {
    switch (result.type) {
      case 'done':
        queue.forget(key);
        if (result.action && result.action !== 'remove') for (const dep of dependentsOf([key])) queue.add(dep);
        // A killed task's exit is the next thing to act on (restart policy, back-off).
        if (result.action === 'kill') queue.add(key);
        return { key, action: result.action, reason: result.reason, pid: result.pid };
      case 'requeueAfter':
        queue.forget(key);
        queue.addAfter(key, result.ms);
        return { key };
      case 'error': {
        memory.reconciled.delete(key);
        const retryInMs = queue.addRateLimited(key);
        const error = { code: codeOf(result.error) ?? 'Error', message: messageOf(result.error) };
        if (memory.states.has(key) || store.desired().has(key)) memory.state(key).error = error;
        log.warn({ key, code: error.code, err: result.error, retryInMs }, 'reconcile failed');
        return { key, action: result.action, error };
      }
    }
  }

  async function worker(): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const before = taskSignature(key);
        const began = performance.now();
        const event = { ...settle(key, await reconcile(key)), ms: performance.now() - began };
        // What dependents wait for (running, exited, how) changed: they look again.
        if (taskSignature(key) !== before) for (const dep of dependentsOf([key])) queue.add(dep);
        // Probes follow what runs: begin for a running task with a check, end for the rest.
        prober.track(store.desired().get(key), memory.actual.get(key));
        updater.observe(key);
        for (const listener of [...listeners]) {
          try {
            listener(event);
          } catch (err) {
            log.error({ key, err }, 'reconcile listener failed');
          }
        }
      } finally {
        queue.done(key);
        if (initialPending?.delete(key) && initialPending.size === 0) markReady();
      }
    }
  }

  function markReady(): void {
    if (isReady || !store.ready()) return;
    isReady = true;
    log.info({ containers: memory.actual.size, desired: store.desired().size }, 'first full reconcile done');
  }

  /**
   * One listing; a key is queued unless its last reconcile saw exactly what the listing
   * shows now (inputsOf), and the reconcile uses the listing instead of a read of its own.
   * Deciding what to do with it stays with the reconcile.
   */
  async function resync(): Promise<void> {
    const began = memory.beginListing();
    const seen = memory.recordListing(began, await runtime.list());
    const desired = store.desired();
    const removalAllowed = store.ready();
    const due: Key[] = [];
    for (const key of new Set<Key>([...desired.keys(), ...seen])) {
      const last = memory.reconciled.get(key);
      if (last === undefined || last !== memory.inputsOf(key, desired.get(key), removalAllowed)) due.push(key);
    }
    memory.keepListedOnly(due);
    if (!isReady && store.ready() && !initialPending) {
      initialPending = new Set(due);
      if (due.length === 0) markReady();
    }
    for (const key of due) queue.add(key);
  }

  /** Resyncs until the runtime answers (it may be starting, or restarting). */
  async function resyncUntilDone(): Promise<void> {
    const retry = new Backoff({ initialMs: 100, maxMs: 5_000, resetAfterMs: 0 }, clock);
    while (!abort.signal.aborted) {
      try {
        await resync();
        return;
      } catch (err) {
        const retryInMs = retry.next();
        log.warn({ err, retryInMs }, 'listing containers failed');
        await sleepOn(clock, retryInMs, abort.signal);
      }
    }
  }

  function scheduleResync(): void {
    resyncTimer = clock.setTimeout(() => {
      void resyncUntilDone().finally(() => {
        if (!abort.signal.aborted) scheduleResync();
      });
    }, resyncMs);
  }

  /** Events are facts to remember and keys to queue; the reconcile decides what they mean. */
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
      const { key } = event;
      memory.touch(key);
      if (event.type === 'oom') memory.state(key).oomKilled = true;
      if (event.type === 'exit' || event.type === 'delete') prober.forget(key); // probes stop with the task
      if (event.type === 'exit') exited(key, { pid: event.pid, exitStatus: event.exitStatus, exitedAt: event.exitedAt?.getTime() ?? clock.now() }, 'event');
      queue.add(key);
    }
  }

  return {
    store,
    async start() {
      running = Array.from({ length: opts.workers ?? 8 }, () => worker());
      running.push(
        watchEvents().catch((err) => {
          if (!abort.signal.aborted) log.error({ err }, 'event stream ended');
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
      await preferRunningClaims({ runtime, memory, store, log });
      await Promise.all(sources.map((s) => s.start(onSnapshot)));
      if (!wasReady && store.ready()) {
        wasReady = true;
        await resyncUntilDone();
      }
      scheduleResync();
      updater.start();
    },
    async stop() {
      abort.abort();
      updater.stop();
      const probing = prober.stop();
      if (resyncTimer !== undefined) clock.clearTimeout(resyncTimer);
      await Promise.all(sources.map((s) => s.stop()));
      queue.shutdown();
      await Promise.allSettled([...running, probing]);
    },
    ready: () => isReady,
    async addSource(source) {
      if (sources.some((s) => s.name === source.name)) return;
      sources.push(source);
      store.addSource(source.name);
      await source.start(onSnapshot);
      // Removals waited while the new source was unread: look at everything once more.
      if (store.ready()) await resyncUntilDone();
    },
    async removeSource(name) {
      const source = sources.find((s) => s.name === name);
      if (!source) return;
      sources.splice(sources.indexOf(source), 1);
      await source.stop();
      store.removeSource(name);
      syncs.delete(name);
    },
    setBackoff(next) {
      Object.assign(backoff, next);
      limiter.configure(next.initialMs, next.maxMs);
    },
    onReconcile(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onHealth(listener) {
      healthListeners.add(listener);
      return () => healthListeners.delete(listener);
    },
    prober,
    updater,
    idle: () => queue.idle(),
    queueDepth: () => queue.len(),
    sourceSyncs: () => syncs,
    requestRestart: (key) => askRestart(key, { store, memory, clock, queue, log }),
    resync: resyncUntilDone,
    status: () => buildStatus(store, memory, clock.now(), (key) => prober.health(key), (key) => updater.state(key)),
  };
}
