// What the controller did lately, for the status page: a ring of the last N actions and
// errors (fed from the controller's reconcile stream, as the metrics are), and each key's
// last one. A reconcile that fails again the same way does not push older entries out: it
// bumps the count of the entry it repeats.

import type { Controller, ReconcileEvent } from '../reconcile/controller.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';

export const DEFAULT_ACTIVITY_SIZE = 100;

export interface ActivityEntry {
  /** ISO time of the (last) occurrence. */
  at: string;
  key: string;
  /** The action applied (create, restart, ...), or "error" for a reconcile that failed. */
  action: string;
  reason: string | null;
  pid: number | null;
  error: string | null;
  /** How many times in a row this key reported exactly this. */
  count: number;
}

export class Activity {
  private readonly ring: ActivityEntry[] = [];
  private readonly last = new Map<string, ActivityEntry>();

  constructor(
    readonly size = DEFAULT_ACTIVITY_SIZE,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Records one reconcile; one that applied nothing and failed nothing is not an action. */
  record(e: ReconcileEvent): boolean {
    if (!e.action && !e.error) return false;
    const entry: ActivityEntry = {
      at: new Date(this.clock.now()).toISOString(),
      key: e.key,
      action: e.error ? (e.action ? `${e.action} failed` : 'error') : (e.action ?? ''),
      reason: e.reason ?? null,
      pid: e.pid ?? null,
      error: e.error ? `${e.error.code}: ${e.error.message}` : null,
      count: 1,
    };
    const prev = this.last.get(e.key);
    if (prev && prev.error !== null && prev.action === entry.action && prev.error === entry.error && this.ring.includes(prev)) {
      prev.count += 1;
      prev.at = entry.at;
      return true;
    }
    this.ring.push(entry);
    if (this.ring.length > this.size) this.ring.shift();
    // A removed key has no row left to show its last action on.
    if (entry.action === 'remove') this.last.delete(e.key);
    else this.last.set(e.key, entry);
    return true;
  }

  /** Newest first. */
  recent(): ActivityEntry[] {
    return this.ring.slice().reverse();
  }

  lastOf(key: string): ActivityEntry | null {
    return this.last.get(key) ?? null;
  }

  /**
   * Follows the controller's reconciles; calls `changed` after every one, an action or not
   * (a reconcile that only read an exit changed the row). Returns the unsubscribe.
   */
  follow(controller: Pick<Controller, 'onReconcile'>, changed: () => void = () => undefined): () => void {
    return controller.onReconcile((e) => {
      this.record(e);
      changed();
    });
  }
}
