// Waiting in tests and the bench: poll for a condition with a deadline (never
// sleep-then-assert), give up at once when what is waited for can no longer come (a daemon
// that exited during start-up), and check that a condition keeps holding over a window (for
// "nothing happens" claims). Daemons, converge, containerd and unit tests all wait this way.

import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  what: string;
  timeoutMs?: number;
  /** Gap between looks: fixed, or a function of the time waited so far. Default 25 ms. */
  intervalMs?: number | ((waitedMs: number) => number);
  /** Extra context for the failure message (e.g. converge's last log lines). */
  detail?: () => string | Promise<string>;
  /**
   * Looked at before every look: an error here is thrown at once, for a wait that can no
   * longer succeed (the process being waited for has exited).
   */
  abandon?: () => Error | undefined | Promise<Error | undefined>;
  /** Makes the error thrown at the deadline (a typed one, say); default a plain Error. */
  timeoutError?: (message: string, lastError: unknown) => Error;
}

/**
 * Polls until `predicate` returns something truthy and returns it. A predicate that throws
 * counts as "not yet" (containerd or the server may be briefly away); its last error is in
 * the failure message.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, opts: WaitOptions): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  // performance.now(): a wall-clock step must not end (or stretch) a wait.
  const start = performance.now();
  let lastError: unknown;
  for (;;) {
    const gone = await opts.abandon?.();
    if (gone) throw gone;
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    const waited = performance.now() - start;
    if (waited > timeoutMs) {
      const extra = opts.detail ? `\n${await opts.detail()}` : '';
      const why = lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})` : '';
      const message = `timed out after ${timeoutMs} ms waiting for ${opts.what}${why}${extra}`;
      throw opts.timeoutError ? opts.timeoutError(message, lastError) : new Error(message);
    }
    const interval = opts.intervalMs ?? 25;
    await delay(typeof interval === 'number' ? interval : interval(waited));
  }
}

/**
 * Checks that `check` keeps holding for `ms` (for "nothing happens" claims: no restart, no
 * removal). Fails at the first observation where it does not.
 */
export async function holds(check: () => void | Promise<void>, ms: number, intervalMs = 100): Promise<void> {
  const end = performance.now() + ms;
  do {
    await check();
    await delay(intervalMs);
  } while (performance.now() < end);
  await check();
}
