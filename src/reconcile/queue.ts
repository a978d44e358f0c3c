// A work queue of keys in the manner of client-go's workqueue: a key added many times
// runs once, a key never runs on two workers at once (a key added while it is being
// processed runs again after done()), delayed adds go through the injected clock, and
// failures are retried with a per-key exponential delay.

import type { Clock } from '../clock.js';
import { FailureRateLimiter } from '../backoff.js';

export class WorkQueue {
  private queue: string[] = [];
  private dirty = new Set<string>();
  private processing = new Set<string>();
  /** Pending delayed adds: key -> (due time, timer). Only the earliest per key is kept. */
  private delayed = new Map<string, { at: number; timer: unknown }>();
  private waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  readonly limiter: FailureRateLimiter;

  constructor(private readonly clock: Clock, limiter?: FailureRateLimiter) {
    this.limiter = limiter ?? new FailureRateLimiter();
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Adds the key after ms; an earlier pending add for the key wins over a later one. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.clock.clearTimeout(pending.timer);
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /** Re-adds a key whose reconcile failed, after its per-key exponential delay. */
  addRateLimited(key: string): number {
    const ms = this.limiter.when(key);
    this.addAfter(key, ms);
    return ms;
  }

  /** The key reconciled cleanly: its failure count starts over. */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  /** Next key to process; resolves undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  len(): number {
    return this.queue.length;
  }

  /** True when nothing is queued, processing or due later. */
  idle(): boolean {
    return this.queue.length === 0 && this.processing.size === 0 && this.delayed.size === 0;
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) this.clock.clearTimeout(timer);
    this.delayed.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}
