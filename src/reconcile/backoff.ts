// Restart backoff: the delay before restarting an exited task doubles from `initialMs` up
// to `maxMs`, and starts over once a task has run for `resetAfterMs` (like kubelet's
// CrashLoopBackOff and docker's restart manager).

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5 * 60_000, resetAfterMs: 10_000 };

/** Delay before restart number `consecutive` (0-based) of a crash loop. */
export function backoffDelay(consecutive: number, opts: BackoffOptions): number {
  if (consecutive <= 0) return opts.initialMs;
  // 2^n overflows to Infinity long before it matters; min() keeps the cap.
  return Math.min(opts.maxMs, opts.initialMs * 2 ** consecutive);
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

/** Per-key exponential delay for failed reconciles (client-go's ItemExponentialFailureRateLimiter). */
export class FailureRateLimiter {
  private failures = new Map<string, number>();

  constructor(private readonly baseMs = 200, private readonly maxMs = 60_000) {}

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.min(this.maxMs, this.baseMs * 2 ** n);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}
