// The Git source: the machine follows one ref of a Git repository. It fetches on an interval
// and on demand (webhook, POST /v1/git/sync) into a local bare clone under the state dir and
// applies a revision WHOLE or not at all: every spec under the path at the new commit is read
// and validated first, and if anything is wrong the revision is rejected and the last good
// revision's specs are emitted again, unchanged, with the problems (naming commit, file and
// field). The ref's head is the truth: a force-push or a rewind is just the next commit.
//
// - Before the first revision has been read in this run the snapshot is complete:false, so
//   nothing is removed; it carries the last good revision of an earlier run (kept in the
//   clone) if there is one, so those containers stay desired.
// - Unreachable repository: the last good revision stays in force (it was read whole), the
//   error is in the snapshot's problems and status(), and fetches retry with the one
//   back-off (backoff.ts), doubling from retryInitialMs up to the interval.
// - Origins are "git:<redacted url>:<file>" without the commit, so a spec that is the same in
//   two revisions is the same claim in the desired store (no restart, no churn, and its place
//   as first claimant is kept); the commit goes in DesiredContainer.revision.
// - Every timer and time read (interval, retries, the start wait, git's deadlines) goes
//   through the injected clock, so tests step time instead of waiting it out.

import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backoffDelay, sleepOn, type BackoffOptions } from '../backoff.js';
import { systemClock } from '../clock.js';
import type { Problem, Snapshot } from '../spec/types.js';
import { formatProblem } from '../spec/load.js';
import type { GitError } from './git/exec.js';
import { GitSourceError, type GitSource, type GitSourceOptions, type SyncOutcome, type SyncResult } from './git/types.js';
import { credentiallessUrl, redactText, redactUrl } from './git/redact.js';
import { GOOD_REF, LocalClone, loadKeyring } from './git/repo.js';
import { normalizeRepoPath, readRevision, type Revision } from './git/revision.js';

export { isGitSource, GitSourceError, type GitSource, type GitSourceOptions, type GitSourceStatus, type SyncOutcome, type SyncResult } from './git/types.js';

interface Deferred {
  promise: Promise<SyncOutcome>;
  resolve(o: SyncOutcome): void;
}

function deferred(): Deferred {
  let resolve!: (o: SyncOutcome) => void;
  const promise = new Promise<SyncOutcome>((r) => (resolve = r));
  return { promise, resolve };
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export function createGitSource(opts: GitSourceOptions): GitSource {
  const ref = opts.ref ?? 'main';
  const repoPath = normalizeRepoPath(opts.path ?? '');
  const display = redactUrl(opts.url);
  const redact = (text: string) => redactText(text, opts.url);
  const name = `git:${display}`;
  const log = opts.log.child({ source: name, ref });
  const intervalMs = opts.intervalMs ?? 30_000;
  const retryInitialMs = opts.retryInitialMs ?? 1_000;
  // No resetAfterMs: a successful fetch is what ends a run of failures (failures = 0).
  const retry: BackoffOptions = { initialMs: retryInitialMs, maxMs: Math.max(intervalMs, retryInitialMs), resetAfterMs: Infinity };
  const clock = opts.clock ?? systemClock;
  const maxBytes = opts.maxBytes ?? 1 << 20;
  const dir = join(opts.stateDir, 'git', createHash('sha256').update(credentiallessUrl(opts.url)).digest('hex').slice(0, 16));
  const goodFile = join(dir, 'converge-good.json');
  const abort = new AbortController();
  const clone = new LocalClone({ dir, url: opts.url, redact, fetchTimeoutMs: opts.fetchTimeoutMs ?? 120_000, signal: abort.signal, clock });

  let onSnapshot: ((s: Snapshot) => void) | undefined;
  let good: Revision | undefined;
  /** A revision has been read whole (or confirmed) in this run. */
  let accepted = false;
  let rejection: { commit: string; problems: Problem[]; at: number } | undefined;
  let error: { code: string; message: string; at: number } | undefined;
  let fetched: string | undefined;
  let lastSyncAt: number | undefined;
  let lastAttemptAt: number | undefined;
  let appliedAt: number | undefined;
  let nextSyncAt: number | undefined;
  let failures = 0;
  let lastEmitted: string | undefined;
  let gnupgHome: string | undefined;
  let pending: Deferred | undefined;
  let running: Promise<void> | undefined;
  /** Cleared synchronously when the loop ends, so a sync() asked for just then starts a new one. */
  let looping = false;
  let timer: unknown;
  let stopped = false;

  const outcome = (result: SyncResult, err?: string): SyncOutcome => ({
    result,
    revision: good?.commit ?? null,
    fetched: fetched ?? null,
    ...(err === undefined ? {} : { error: err }),
  });
  const keeping = () => (good ? `keeping revision ${good.commit.slice(0, 12)}` : 'nothing applied yet');

  function emit(): void {
    if (stopped || !onSnapshot) return;
    const problems: Problem[] = [];
    if (rejection) {
      problems.push(...rejection.problems);
      problems.push({ file: display, path: '', message: `revision ${rejection.commit} of ${ref} rejected (${rejection.problems.length} problem(s)); ${keeping()}` });
    }
    if (error) problems.push({ file: display, path: '', message: `${error.message}; ${keeping()}` });
    const signature = JSON.stringify([good?.commit, accepted, problems]);
    if (signature === lastEmitted) return;
    lastEmitted = signature;
    onSnapshot({ source: name, specs: good?.specs ?? [], problems, complete: accepted });
  }

  function fail(code: string, err: unknown): SyncOutcome {
    failures += 1;
    const message = redact(err instanceof Error ? err.message : String(err));
    const level = error?.message === message ? 'debug' : 'warn';
    error = { code, message, at: clock.now() };
    log[level]({ code, gitCode: (err as GitError).code, err: message, failures, keeping: good?.commit ?? null }, 'git sync failed; keeping the last good revision');
    emit();
    return outcome('failed', message);
  }

  async function syncOnce(): Promise<SyncOutcome> {
    lastAttemptAt = clock.now();
    let head: string;
    try {
      await clone.ensure();
      head = await clone.fetch(ref);
    } catch (err) {
      if (stopped) return outcome('stopped');
      return fail('GIT_FETCH_FAILED', new Error(`cannot fetch ${ref}: ${err instanceof Error ? err.message : String(err)}`));
    }
    if (error) log.info({ revision: head, failures }, 'git fetch works again');
    error = undefined;
    failures = 0;
    fetched = head;
    lastSyncAt = clock.now();
    if (head === good?.commit) {
      if (!accepted || rejection) log.info({ revision: head }, 'git revision confirmed');
      accepted = true;
      rejection = undefined;
      emit();
      return outcome('unchanged');
    }
    if (head === rejection?.commit) return outcome('rejected', `revision ${head} is still the head and still rejected`);

    let rev: Revision;
    try {
      rev = await check(head);
    } catch (err) {
      if (stopped) return outcome('stopped');
      return fail('GIT_READ_FAILED', new Error(`cannot read revision ${head}: ${err instanceof Error ? err.message : String(err)}`));
    }
    if (rev.problems.length > 0) {
      rejection = { commit: head, problems: rev.problems, at: clock.now() };
      log.warn({ revision: head, problems: rev.problems.map(formatProblem), keeping: good?.commit ?? null }, 'git revision rejected; keeping the last good revision');
      emit();
      return outcome('rejected', `revision ${head} rejected: ${rev.problems.map(formatProblem).join('; ')}`);
    }
    const previous = good?.commit ?? null;
    good = rev;
    accepted = true;
    rejection = undefined;
    appliedAt = clock.now();
    try {
      // Kept for the next start: the clone then knows what was applied even if the remote is down.
      await clone.setRef(GOOD_REF, head);
      await writeFile(goodFile, JSON.stringify({ ref, path: repoPath, commit: head }) + '\n');
    } catch (err) {
      log.warn({ err: redact(String(err)) }, 'could not record the applied revision in the clone');
    }
    log.info({ revision: head, previous, files: rev.files, specs: rev.specs.length }, 'git revision applied');
    emit();
    return outcome('applied');
  }

  /** Reads and validates a revision; signature problems reject it like spec problems. */
  async function check(commit: string): Promise<Revision> {
    if (gnupgHome) {
      const v = await clone.verifyCommit(commit, gnupgHome);
      if (!v.ok) {
        const problem: Problem = { file: display, path: '', message: `commit ${commit} is not accepted by --git-verify-commits: ${v.reason}` };
        return { commit, specs: [], problems: [problem], files: 0 };
      }
    }
    return readRevision(clone, commit, { path: repoPath, display, maxBytes });
  }

  /** The revision an earlier run applied, if the clone still has it and it is still valid. */
  async function loadPrevious(): Promise<void> {
    try {
      const saved = JSON.parse(await readFile(goodFile, 'utf8')) as { ref?: string; path?: string; commit?: string };
      if (saved.ref !== ref || saved.path !== repoPath || !saved.commit) return;
      if ((await clone.tryResolve(GOOD_REF)) !== saved.commit) return;
      const rev = await readRevision(clone, saved.commit, { path: repoPath, display, maxBytes });
      if (rev.problems.length > 0) return;
      good = rev;
      log.info({ revision: rev.commit, specs: rev.specs.length }, 'found the revision applied by an earlier run');
    } catch {
      // no earlier run, or its clone is unusable: start from nothing
    }
  }

  function schedule(): void {
    if (stopped) return;
    // The n-th failure in a row waits attempt n-1 of the back-off: retryInitialMs first.
    const delay = failures > 0 ? backoffDelay(failures - 1, retry) : intervalMs;
    nextSyncAt = clock.now() + delay;
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = clock.setTimeout(() => void sync(), delay);
  }

  async function loop(): Promise<void> {
    try {
      while (pending && !stopped) {
        const waiter = pending;
        pending = undefined;
        let result: SyncOutcome;
        try {
          result = await syncOnce();
        } catch (err) {
          result = fail('GIT_SYNC_FAILED', err);
        }
        waiter.resolve(result);
      }
    } finally {
      looping = false;
      schedule();
    }
  }

  function sync(): Promise<SyncOutcome> {
    if (stopped) return Promise.resolve(outcome('stopped'));
    pending ??= deferred();
    const promise = pending.promise;
    if (!looping) {
      looping = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      nextSyncAt = undefined;
      running = loop();
    }
    return promise;
  }

  return {
    name,
    kind: 'git',
    ref,
    sync,
    follows(pushed) {
      if (ref.startsWith('refs/')) return pushed === ref;
      return pushed === ref || pushed === `refs/heads/${ref}` || pushed === `refs/tags/${ref}`;
    },
    async start(cb) {
      onSnapshot = cb;
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if (opts.verifyKeyring) {
        gnupgHome = join(dir, 'gnupg');
        const keys = await loadKeyring(gnupgHome, opts.verifyKeyring, { signal: abort.signal, clock });
        if (keys === 0) throw new GitSourceError('GIT_KEYRING_EMPTY', `--git-verify-commits: no public key could be imported from ${opts.verifyKeyring}`);
        log.info({ keyring: opts.verifyKeyring, keys }, 'verifying commit signatures');
      }
      log.info({ url: display, path: repoPath === '' ? '.' : repoPath, intervalMs, clone: dir }, 'following a git repository');
      await clone.ensure().catch(() => undefined); // a failure shows in the first sync
      await loadPrevious();
      // A remote that hangs must not hold up the other sources: after startWaitMs, report
      // what is known (not ready) and let the first fetch finish in the background.
      const waited = new AbortController();
      await Promise.race([sync(), sleepOn(clock, opts.startWaitMs ?? 15_000, waited.signal)]);
      waited.abort();
      emit();
    },
    async stop() {
      stopped = true;
      abort.abort();
      if (timer !== undefined) clock.clearTimeout(timer);
      pending?.resolve(outcome('stopped'));
      pending = undefined;
      await running;
    },
    status() {
      const current = error ?? (rejection && { code: 'GIT_REVISION_REJECTED', message: `revision ${rejection.commit} rejected: ${rejection.problems.map(formatProblem).join('; ')}`, at: rejection.at });
      return {
        name,
        kind: 'git',
        url: display,
        ref,
        path: repoPath === '' ? '.' : repoPath,
        revision: good?.commit ?? null,
        ready: accepted,
        fetchedRevision: fetched ?? null,
        lastSyncAt: iso(lastSyncAt),
        lastAttemptAt: iso(lastAttemptAt),
        appliedAt: iso(appliedAt),
        nextSyncAt: iso(nextSyncAt),
        error: current ? { code: current.code, message: current.message, at: new Date(current.at).toISOString() } : null,
        rejected: rejection ? { revision: rejection.commit, problems: rejection.problems.map(formatProblem) } : null,
        consecutiveFailures: failures,
      };
    },
  };
}
