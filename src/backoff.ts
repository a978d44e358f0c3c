// The one back-off: a delay that doubles from `initialMs` up to `maxMs`, with optional
// jitter, and starts over once things have gone well for `resetAfterMs`. Restarts of
// crashed tasks, failed reconciles, event-stream reconnects, Git fetches and Kubernetes
// watches all use it, on an injected clock, so their tests step time.

import type { Clock } from './clock.js';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A run that lasted this long starts a fresh loop (restarts); also used by Backoff.succeeded. */
  resetAfterMs: number;
  /** Spread each delay uniformly by ±jitter (a fraction; 0.2 = ±20 %). Default 0. */
  jitter?: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5 * 60_000, resetAfterMs: 10_000 };

/** Delay before attempt number `attempt` (0-based) of a loop. */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  // 2^n overflows to Infinity long before it matters; min() keeps the cap.
  const base = attempt <= 0 ? opts.initialMs : Math.min(opts.maxMs, opts.initialMs * 2 ** attempt);
  const jitter = opts.jitter ?? 0;
  if (jitter <= 0) return base;
  return Math.round(base * (1 - jitter + 2 * jitter * random()));
}

/**
 * One retry loop's state: next() gives the delay before the next try and counts it;
 * reset() after a success. sleep() waits that delay on the clock (abortable).
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: BackoffOptions,
    private readonly clock: Clock,
    private readonly random: () => number = Math.random,
  ) {}

  /** Failures since the last reset. */
  get failures(): number {
    return this.attempt;
  }

  next(): number {
    return backoffDelay(this.attempt++, this.opts, this.random);
  }

  reset(): void {
    this.attempt = 0;
  }

  /** Resets when the attempt that just ended ran for at least resetAfterMs. */
  ended(startedAt: number): void {
    if (this.clock.now() - startedAt >= this.opts.resetAfterMs) this.reset();
  }

  /** Waits next() ms; resolves early (without error) when `signal` aborts. */
  sleep(signal?: AbortSignal): Promise<number> {
    const ms = this.next();
    return sleepOn(this.clock, ms, signal).then(() => ms);
  }
}

/** Waits `ms` on the clock; resolves early when `signal` aborts. */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      resolve();
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** What the controller remembers of one key's crash loop (in memory only). */
export interface RestartState {
  /** Restarts in the current crash loop; 0 after a reset. */
  consecutive: number;
  /** When converge last started the task, if it did (unknown for adopted tasks). */
  startedAt?: number;
}

/**
 * When the task that exited at `exitedAt` may be restarted. A task that ran for at least
 * resetAfterMs starts a fresh loop; a task whose start time is unknown (adopted from an
 * earlier run of converge) does too.
 */
export function restartAt(state: RestartState | undefined, exitedAt: number, opts: BackoffOptions): { at: number; consecutive: number } {
  const ranFor = state?.startedAt === undefined ? Infinity : exitedAt - state.startedAt;
  const consecutive = !state || ranFor >= opts.resetAfterMs ? 0 : state.consecutive;
  return { at: exitedAt + backoffDelay(consecutive, opts), consecutive };
}

/** Per-key delays for failed work (client-go's ItemExponentialFailureRateLimiter). */
export class FailureRateLimiter {
  private failures = new Map<string, number>();
  private opts: BackoffOptions;

  constructor(baseMs = 200, maxMs = 60_000) {
    this.opts = { initialMs: baseMs, maxMs, resetAfterMs: Infinity };
  }

  /** New bounds for the next delays; the failure counts so far stay. */
  configure(baseMs: number, maxMs: number): void {
    this.opts = { initialMs: baseMs, maxMs, resetAfterMs: Infinity };
  }

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return backoffDelay(n, this.opts);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}
