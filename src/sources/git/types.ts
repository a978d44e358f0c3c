// The Git source's public shapes: its options, what a sync reports, the status it shows
// (GET /v1/sources), and the Source it is, plus sync-on-demand for webhooks.

import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import type { Source } from '../../desired.js';
import { ConvergeError } from '../../errors.js';

export interface GitSourceOptions {
  url: string;
  /** Branch, tag or full ref name. Default "main". */
  ref?: string;
  /** Directory (or file) of specs inside the repository; default the whole tree. */
  path?: string;
  /** converge's state dir; the clone goes to <stateDir>/git/<hash of the URL>. */
  stateDir: string;
  log: Logger;
  /** Fetch this often. Default 30 s. */
  intervalMs?: number;
  /** First retry delay after a failed fetch; doubles up to intervalMs. Default 1 s. */
  retryInitialMs?: number;
  /** Deadline of one fetch. Default 120 s. */
  fetchTimeoutMs?: number;
  /** How long start() waits for the first fetch before resolving with what it has. Default 15 s. */
  startWaitMs?: number;
  /** Only apply head commits signed by a key in this keyring file (`git verify-commit`). */
  verifyKeyring?: string;
  /** Size limit per spec file. Default 1 MiB. */
  maxBytes?: number;
  /** Time for the interval, the retries, the start wait and git's deadlines. Default systemClock. */
  clock?: Clock;
}

export type SyncResult = 'applied' | 'unchanged' | 'rejected' | 'failed' | 'stopped';

export interface SyncOutcome {
  result: SyncResult;
  /** The good (applied) revision after the sync. */
  revision: string | null;
  /** The ref's head as last fetched. */
  fetched: string | null;
  error?: string;
}

export interface GitSourceStatus {
  name: string;
  kind: 'git';
  /** Redacted. */
  url: string;
  ref: string;
  path: string;
  /** The revision applied now (the last good one). */
  revision: string | null;
  /** A revision has been read whole in this run (before that, nothing the source owned is removed). */
  ready: boolean;
  /** The ref's head at the last successful fetch. */
  fetchedRevision: string | null;
  /** Last successful fetch (ISO time). */
  lastSyncAt: string | null;
  lastAttemptAt: string | null;
  /** When `revision` was applied. */
  appliedAt: string | null;
  nextSyncAt: string | null;
  /** The current error: fetch failure, or the rejection of the ref's head. */
  error: { code: string; message: string; at: string } | null;
  /** The rejected head revision and its problems, while the head is rejected. */
  rejected: { revision: string; problems: string[] } | null;
  consecutiveFailures: number;
}

export interface GitSource extends Source {
  readonly kind: 'git';
  readonly ref: string;
  /** Fetches now (coalesced with a fetch already waiting); resolves when that fetch is done. */
  sync(): Promise<SyncOutcome>;
  status(): GitSourceStatus;
  /** Whether a pushed ref, as a webhook names it ("refs/heads/main"), is the followed one. */
  follows(pushedRef: string): boolean;
}

export function isGitSource(s: Source): s is GitSource {
  return (s as Partial<GitSource>).kind === 'git';
}

export type GitSourceErrorCode = 'GIT_KEYRING_EMPTY';

/** A Git source that cannot start as configured (an error of the setup, not of one fetch). */
export class GitSourceError extends ConvergeError {
  // `declare`: narrows ConvergeError's code without a class field that would reset it.
  declare readonly code: GitSourceErrorCode;
  constructor(code: GitSourceErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
