// Runs the health checks of running tasks, beside the reconcile workers and never on them:
// one timer wheel schedules every probe, a bounded number run at once, and each result goes
// through the health state machine (health.ts). The controller tells it, after every
// reconcile, what runs (track); it tells the controller when a key's health changes. A probe
// belongs to one task (its pid): a result that comes back after the task changed is dropped,
// and a probe that could not be made (the runtime away, the task gone) counts for nothing.

import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { codeOf, messageOf } from '../errors.js';
import type { DesiredContainer, Key } from '../spec/types.js';
import { initialHealth, observeProbe, type HealthState } from './health.js';
import type { ActualContainer, ProbeResult, Runtime } from './runtime.js';
import { TimerWheel, type WheelOptions } from './wheel.js';

export interface HealthChange {
  key: Key;
  pid: number;
  before: HealthState;
  after: HealthState;
}

export interface ProberOptions {
  runtime: Pick<Runtime, 'probe'>;
  clock: Clock;
  log: Logger;
  /** After every probe that counted; `before.status !== after.status` is a transition. */
  onProbe(change: HealthChange): void;
  /** Probes running at once, at most (default 16); the rest wait their turn. */
  concurrency?: number;
  wheel?: WheelOptions;
}

interface Entry {
  desired: DesiredContainer;
  pid: number;
  state: HealthState;
  /** When the last probe was due; the next is one period on, so the spread stays. */
  dueAt: number;
  inFlight: boolean;
}

export class Prober {
  private readonly entries = new Map<Key, Entry>();
  private readonly wheel: TimerWheel<Key>;
  private readonly waiting: Key[] = [];
  private readonly concurrency: number;
  private running = 0;
  private stopped = false;
  /** Probes under way, so that stopping can wait for their exec processes to be deleted. */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Ends the probes under way when stopping (a check's timeout may be long). */
  private readonly abort = new AbortController();
  /** Probes started and probes whose result counted, for tests and metrics. */
  readonly counts = { started: 0, counted: 0, notMade: 0 };

  constructor(private readonly opts: ProberOptions) {
    this.concurrency = opts.concurrency ?? 16;
    this.wheel = new TimerWheel(opts.clock, (key) => this.due(key), opts.wheel);
  }

  /**
   * What runs now for the key: probes begin for a running task whose container was made from
   * the desired spec and has a health check, and end for anything else.
   */
  track(desired: DesiredContainer | undefined, actual: ActualContainer | undefined): void {
    if (this.stopped || !this.opts.runtime.probe) return;
    const task = actual?.task;
    const check = desired?.resolved.healthCheck;
    const key = actual?.key ?? desired?.key;
    if (!key) return;
    if (!desired || !check || !task || task.status !== 'running' || actual.specHash !== desired.hash) {
      this.forget(key);
      return;
    }
    const entry = this.entries.get(key);
    if (entry && entry.pid === task.pid && entry.desired.hash === desired.hash) {
      entry.desired = desired;
      return;
    }
    // A new task (or one adopted from an earlier run of converge): Starting until a probe
    // passes, with its start period from now. The first probe goes to the emptiest tick of
    // its first period.
    const now = this.opts.clock.now();
    const dueAt = this.wheel.emptiest(now, check.periodMs);
    this.entries.set(key, { desired, pid: task.pid, state: initialHealth(now), dueAt, inFlight: false });
    this.wheel.schedule(key, dueAt);
  }

  /** Stops probing the key (its task stopped or is gone). */
  forget(key: Key): void {
    if (!this.entries.delete(key)) return;
    this.wheel.cancel(key);
  }

  /** The health of the key's task `pid` (any task when pid is undefined). */
  health(key: Key, pid?: number): HealthState | undefined {
    const entry = this.entries.get(key);
    if (!entry || (pid !== undefined && entry.pid !== pid)) return undefined;
    return entry.state;
  }

  /** Keys being probed, and the clock time each probe is next due (tests look at the spread). */
  schedule(): Map<Key, number> {
    return new Map([...this.entries].map(([key, e]) => [key, e.dueAt]));
  }

  /** True when no probe runs or waits to run. */
  idle(): boolean {
    return this.running === 0 && this.waiting.length === 0;
  }

  /** No new probes; resolves when those under way have finished (each has its timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wheel.clear();
    this.entries.clear();
    this.waiting.length = 0;
    this.abort.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private due(key: Key): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    const period = entry.desired.resolved.healthCheck?.periodMs ?? 10_000;
    const now = this.opts.clock.now();
    entry.dueAt += period;
    // Behind by a period or more (a busy machine): skip the missed rounds, keep the phase.
    if (entry.dueAt <= now) entry.dueAt += Math.ceil((now - entry.dueAt + 1) / period) * period;
    this.wheel.schedule(key, entry.dueAt);
    // A probe still running when the next is due (timeout over period) is not doubled.
    if (entry.inFlight || this.waiting.includes(key)) return;
    if (this.running < this.concurrency) this.run(key, entry);
    else this.waiting.push(key);
  }

  private run(key: Key, entry: Entry): void {
    entry.inFlight = true;
    this.running++;
    this.counts.started++;
    const probing = this.probe(entry);
    this.inFlight.add(probing);
    void probing.then((result) => {
      this.inFlight.delete(probing);
      entry.inFlight = false;
      this.running--;
      this.next();
      // The task changed (or stopped, or converge is stopping) while the probe ran.
      if (!result || this.entries.get(key) !== entry) return;
      const before = entry.state;
      const check = entry.desired.resolved.healthCheck;
      if (!check) return;
      entry.state = observeProbe(before, result, check, this.opts.clock.now());
      this.counts.counted++;
      this.opts.onProbe({ key, pid: entry.pid, before, after: entry.state });
    });
  }

  private async probe(entry: Entry): Promise<ProbeResult | undefined> {
    try {
      return await this.opts.runtime.probe!(entry.desired, this.abort.signal);
    } catch (err) {
      this.counts.notMade++;
      this.opts.log.debug({ key: entry.desired.key, code: codeOf(err), err }, 'health probe not made');
      return undefined;
    }
  }

  private next(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const key = this.waiting.shift()!;
      const entry = this.entries.get(key);
      if (entry && !entry.inFlight) this.run(key, entry);
    }
  }
}
