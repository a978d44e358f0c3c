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
  /** Why converge killed the current task (until a new task runs). */
  killed?: { reason: string; why: KillCause };
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
  /** Keys whose current container has had a task that converge saw or started. */
  readonly hadTask = new Set<Key>();
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

  /** The listing's view of the key if it is still current (once), else undefined: read it. */
  takeListed(key: Key): { actual: ActualContainer | undefined } | undefined {
    if (!this.listed.delete(key)) return undefined;
    return { actual: this.actual.get(key) };
  }

  setActual(key: Key, actual: ActualContainer | undefined): void {
    if (actual) this.actual.set(key, actual);
    else this.actual.delete(key);
    if (actual?.task) this.hadTask.add(key);
  }

  /** The exit of a task that is gone without converge deleting it; see PlanContext.vanished. */
  vanished(key: Key, now: number): { exitCode: number; exitedAt: number } | undefined {
    const exit = this.exits.get(key);
    if (exit) return { exitCode: exit.exitStatus, exitedAt: exit.exitedAt };
    return this.hadTask.has(key) ? { exitCode: 255, exitedAt: now } : undefined;
  }

  forget(key: Key): void {
    this.actual.delete(key);
    this.restarts.delete(key);
    this.states.delete(key);
    this.exits.delete(key);
    this.hadTask.delete(key);
    this.listed.delete(key);
    this.touched.delete(key);
  }
}
