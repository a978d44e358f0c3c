// A hashed timer wheel on the injected Clock: many keys, each due at some time, served by
// one clock timer instead of one per key. Time is cut into ticks of `tickMs`; a key due at
// tick t sits in slot t mod `slots` with its tick, so a slot can hold keys of later turns of
// the wheel. The one timer is armed for the next tick that has a key due; a wheel with
// nothing in it has no timer. `emptiest` finds the least loaded tick of a window, so that a
// new key can be placed where it does not add to a burst (100 probes every 10 s land one per
// tick, not all at once).

import type { Clock } from '../clock.js';

export interface WheelOptions {
  /** Resolution: a key fires at the first tick at or after its time. Default 100 ms. */
  tickMs?: number;
  /** Slots in one turn of the wheel. Default 600 (one minute at 100 ms). */
  slots?: number;
}

export class TimerWheel<K> {
  private readonly tickMs: number;
  private readonly slots: Map<K, number>[];
  /** key -> the tick it is due at. */
  private readonly due = new Map<K, number>();
  /** The last tick whose keys have been fired. */
  private cursor: number;
  private timer: unknown;
  private armedAt: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (key: K) => void,
    opts: WheelOptions = {},
  ) {
    this.tickMs = opts.tickMs ?? 100;
    this.slots = Array.from({ length: opts.slots ?? 600 }, () => new Map<K, number>());
    this.cursor = Math.floor(clock.now() / this.tickMs);
  }

  get size(): number {
    return this.due.size;
  }

  has(key: K): boolean {
    return this.due.has(key);
  }

  /** Fires `key` at the first tick at or after `at` (epoch ms); replaces an earlier schedule. */
  schedule(key: K, at: number): void {
    this.unlink(key);
    const tick = Math.max(Math.ceil(at / this.tickMs), this.cursor + 1);
    this.due.set(key, tick);
    this.slotOf(tick).set(key, tick);
    if (this.armedAt === undefined || tick < this.armedAt) this.arm();
  }

  cancel(key: K): void {
    this.unlink(key);
    if (this.due.size === 0) this.disarm();
  }

  /** Stops the timer and forgets every key. */
  clear(): void {
    for (const slot of this.slots) slot.clear();
    this.due.clear();
    this.disarm();
  }

  /**
   * The start of the tick in [from, from + spanMs) with the fewest keys due (the earliest of
   * equals), for placing a key where it adds least to a burst.
   */
  emptiest(from: number, spanMs: number): number {
    const first = Math.max(Math.ceil(from / this.tickMs), this.cursor + 1);
    const count = Math.min(this.slots.length, Math.max(1, Math.floor(spanMs / this.tickMs)));
    let best = first;
    let bestLoad = Infinity;
    for (let t = first; t < first + count; t++) {
      let load = 0;
      for (const tick of this.slotOf(t).values()) if (tick === t) load++;
      if (load < bestLoad) [best, bestLoad] = [t, load];
      if (load === 0) break;
    }
    return best * this.tickMs;
  }

  private slotOf(tick: number): Map<K, number> {
    return this.slots[tick % this.slots.length];
  }

  private unlink(key: K): void {
    const tick = this.due.get(key);
    if (tick === undefined) return;
    this.due.delete(key);
    this.slotOf(tick).delete(key);
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = undefined;
  }

  /** Sets the one timer for the next tick with a key due (or one turn on, to move along). */
  private arm(): void {
    this.disarm();
    if (this.due.size === 0) return;
    const n = this.slots.length;
    let next = this.cursor + n;
    for (let t = this.cursor + 1; t <= this.cursor + n; t++) {
      if (this.hasDue(t)) {
        next = t;
        break;
      }
    }
    this.armedAt = next;
    this.timer = this.clock.setTimeout(() => this.fire(), next * this.tickMs - this.clock.now());
  }

  private hasDue(t: number): boolean {
    for (const tick of this.slotOf(t).values()) if (tick <= t) return true;
    return false;
  }

  private fire(): void {
    const armed = this.armedAt ?? this.cursor + 1;
    this.timer = undefined;
    this.armedAt = undefined;
    // A late timer (a busy event loop) fires everything that fell due meanwhile.
    const now = Math.max(Math.floor(this.clock.now() / this.tickMs), armed);
    const fired: K[] = [];
    const steps = Math.min(now - this.cursor, this.slots.length);
    for (let i = 1; i <= steps; i++) {
      const slot = this.slotOf(this.cursor + i);
      for (const [key, tick] of slot) {
        if (tick > now) continue;
        slot.delete(key);
        this.due.delete(key);
        fired.push(key);
      }
    }
    this.cursor = now;
    // Callbacks come after the bookkeeping, so that they may schedule their keys again.
    for (const key of fired) this.onDue(key);
    if (this.armedAt === undefined) this.arm();
  }
}
