// Waiting in tests: poll for a condition with a deadline (never sleep-then-assert), and
// check that a condition keeps holding over a window (for "nothing happens" claims). Shared
// by the unit tests (against the test API server of test/kube) and the integration tests.

import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
  /** Extra context for the failure message (e.g. converge's last log lines). */
  detail?: () => string | Promise<string>;
}

/**
 * Polls until `predicate` returns something truthy and returns it. A predicate that throws
 * counts as "not yet" (containerd or the server may be briefly away); its last error is in
 * the failure message.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, opts: WaitOptions): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const extra = opts.detail ? `\n${await opts.detail()}` : '';
      const why = lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what}${why}${extra}`);
    }
    await delay(opts.intervalMs ?? 25);
  }
}

/**
 * Checks that `check` keeps holding for `ms` (for "nothing happens" claims: no restart, no
 * removal). Fails at the first observation where it does not.
 */
export async function holds(check: () => void | Promise<void>, ms: number, intervalMs = 100): Promise<void> {
  const end = Date.now() + ms;
  do {
    await check();
    await delay(intervalMs);
  } while (Date.now() < end);
  await check();
}
