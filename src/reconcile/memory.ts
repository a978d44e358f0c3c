// What the controller remembers between reconciles, per key: the last actual state read
// from the runtime, the crash-loop memory, the last exit the event stream reported, and
// what the status shows (error, waiting, pulling). Reads and events record facts here;
// only the reconciler decides what they mean.

import type { RestartState } from '../backoff.js';
import type { Key } from '../spec/types.js';
import type { KillCause } from './plan.js';
import type { ActualContainer } from './runtime.js';

export interface KeyState {
  error?: { code: string; message: string };
  waiting?: { reason: string; at?: number };
  oomKilled?: boolean;
  /** When converge last started this key's task (epoch ms). */
  startedAt?: number;
  /** The image pull this key waits for (before a create or recreate). */
  pulling?: { image: string; done: number; total: number };
  /** `converge restart` asked for a new task at this time (epoch ms), until one is started. */
  restartRequested?: number;
  /** Why converge killed the current task (until a new task runs). */
  killed?: { reason: string; why: KillCause };
  /** A restart's count is written and its start has not succeeded yet: a retry does not count again. */
  restartCounted?: boolean;
  /**
   * The task of a restart waiting out its back-off was made beforehand (Runtime.prepareStart).
   * Until the restart starts it, reads show the key without a task (setActual): it is the
   * exit that is waited on, and nothing of the container runs.
   */
  prepared?: boolean;
  /**
   * An action that starts a task failed in a way that does not say whether the task ran (a
   * shim killed just as Tasks.Start answered reads NotFound or "ttrpc: closed"). An exit the
   * event stream reports for it then is the exit of a task converge started (its restart
   * policy decides), not of one it never saw. Cleared by the next action that works.
   */
  startUncertain?: boolean;
  /** That task is being made now; an action on the key waits for it. Never rejects. */
  preparing?: Promise<void>;
}

/** An exit the runtime reported, kept until a reconcile has acted on it. */
export interface ObservedExit {
  pid: number;
  exitStatus: number;
  exitedAt: number;
}

export class Memory {
  /** Last actual state read per key (absent: not there when last read). */
  readonly actual = new Map<Key, ActualContainer>();
  readonly restarts = new Map<Key, RestartState>();
  readonly states = new Map<Key, KeyState>();
  readonly exits = new Map<Key, ObservedExit>();
  /** Per key, the pid of the last task whose exit was noted (noteExit): each exit is told once. */
  private readonly exitNoted = new Map<Key, number>();
  /** Keys whose current container has had a task that converge saw or started. */
  readonly hadTask = new Set<Key>();
  /** What each key's last finished reconcile saw (see inputsOf); absent: read it again. */
  readonly reconciled = new Map<Key, string>();
  /** Keys whose `actual` entry came from the latest listing and has not been used yet. */
  private readonly listed = new Set<Key>();
  /** Sequence number of the last thing that happened to a key (action or event). */
  private readonly touched = new Map<Key, number>();
  private seq = 0;

  state(key: Key): KeyState {
    let s = this.states.get(key);
    if (!s) this.states.set(key, (s = {}));
    return s;
  }

  /** Something happened to the key (an event, an action): a listing begun before is stale for it. */
  touch(key: Key): void {
    this.touched.set(key, ++this.seq);
    this.listed.delete(key);
  }

  /** Marks the start of a listing; pass the result to recordListing. */
  beginListing(): number {
    return ++this.seq;
  }

  /**
   * Records a full listing begun at `began`. Keys touched since then keep what they had
   * and are read again by their reconcile; the others may use the listing instead of a read.
   */
  recordListing(began: number, listed: ActualContainer[]): Set<Key> {
    const seen = new Set<Key>();
    for (const c of listed) seen.add(c.key);
    const stale = (key: Key): boolean => (this.touched.get(key) ?? 0) > began;
    for (const c of listed) {
      if (stale(c.key)) continue;
      this.setActual(c.key, c);
      this.listed.add(c.key);
    }
    for (const key of [...this.actual.keys()]) {
      if (!seen.has(key) && !stale(key)) {
        this.actual.delete(key);
        this.listed.add(key);
      }
    }
    return seen;
  }

  /** Only these keys' reconciles (queued now) may use the latest listing; others read anew. */
  keepListedOnly(keys: Iterable<Key>): void {
    const keep = new Set(keys);
    for (const key of [...this.listed]) if (!keep.has(key)) this.listed.delete(key);
  }

  /** The listing's view of the key if it is still current (once), else undefined: read it. */
  takeListed(key: Key): { actual: ActualContainer | undefined } | undefined {
    if (!this.listed.delete(key)) return undefined;
    return { actual: this.actual.get(key) };
  }

  /**
   * Records a task's exit, whichever way converge learned it: from the event stream, or from
   * a read that shows the task stopped (containerd 2.x can lose the event of a task deleted
   * soon after it ended: its shim exits with the event unsent). False when this task's exit
   * was noted already (its event after the read, or the read after its event).
   */
  noteExit(key: Key, exit: ObservedExit): boolean {
    if (exit.pid !== 0 && this.exitNoted.get(key) === exit.pid) return false;
    if (exit.pid !== 0) this.exitNoted.set(key, exit.pid);
    this.exits.set(key, exit);
    // An exit after a start that failed uncertainly is that task's: it ran.
    if (this.states.get(key)?.startUncertain) this.hadTask.add(key);
    return true;
  }

  /** Records what a read found; returns it as the reconciler is to see it (a prepared task hidden). */
  setActual(key: Key, found: ActualContainer | undefined): ActualContainer | undefined {
    const actual = found?.task?.status === 'created' && this.states.get(key)?.prepared ? { ...found, task: undefined } : found;
    if (actual) this.actual.set(key, actual);
    else this.actual.delete(key);
    // A created task runs nothing yet: if it vanishes (a Create cut by a crash, which
    // containerd kills at its restart), no exit of the container's happened.
    if (actual?.task && actual.task.status !== 'created') this.hadTask.add(key);
    return actual;
  }

  /**
   * The exit of a task that is gone without converge deleting it; see PlanContext.vanished.
   * Only a task converge saw or started counts: the exit of one it never saw (a create cut
   * by a crash of converge, which containerd 1.7 finishes and kills some seconds later) is
   * not a restart. With no exit reported (containerd 2.x deletes a task that ended while it
   * was down, at its start, before anyone listens), the first time it is found gone is
   * recorded as its exit: the restart back-off counts from that one time, not from every
   * look (which never ends).
   */
  vanished(key: Key, now: number): { exitCode: number; exitedAt: number } | undefined {
    if (!this.hadTask.has(key)) return undefined;
    let exit = this.exits.get(key);
    if (!exit) this.exits.set(key, (exit = { pid: 0, exitStatus: 255, exitedAt: now }));
    return { exitCode: exit.exitStatus, exitedAt: exit.exitedAt };
  }

  forget(key: Key): void {
    this.actual.delete(key);
    this.restarts.delete(key);
    this.states.delete(key);
    this.exits.delete(key);
    this.exitNoted.delete(key);
    this.hadTask.delete(key);
    this.listed.delete(key);
    this.touched.delete(key);
    this.reconciled.delete(key);
  }

  /**
   * Everything a reconcile of `key` decides on, in one string: the desired hash, whether
   * removals are allowed, the container's hash and task, and whether each dependency runs.
   * A resync queues a key only when this differs from what its last reconcile saw; what
   * changes by time alone (a back-off) has a timer of its own.
   */
  inputsOf(key: Key, desired: { hash: string; resolved: { dependsOn: Array<{ key: Key }> } } | undefined, removalAllowed: boolean): string {
    const a = this.actual.get(key);
    const t = a?.task;
    // A dependency's task as far as its conditions go: running, exited and how, a new task.
    const deps = (desired?.resolved.dependsOn ?? []).map((d) => taskText(this.actual.get(d.key)?.task)).join(',');
    const actual = a ? `${a.specHash}:${a.image?.digest ?? ''}:${t ? taskText(t) : this.exits.has(key) ? 'exited' : '-'}` : 'none';
    return `${desired?.hash ?? 'none'}|${removalAllowed ? 1 : 0}|${actual}|${deps}|${this.extraInputs?.(key) ?? ''}`;
  }

  /**
   * What else a key's plan reads that the controller keeps (its and its dependencies'
   * health, an auto-update's target digest, a dependency cycle); set by the controller.
   */
  extraInputs?: (key: Key) => string;
}

function taskText(t: { status: string; pid: number; exitStatus?: number } | undefined): string {
  return t ? `${t.status}:${t.pid}:${t.exitStatus ?? ''}` : '-';
}
