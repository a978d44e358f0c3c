// The auto-update of one container as a pure state machine. A check of the tag finds a new
// digest: Updating (the planner recreates the container on it). The new container runs:
// Verifying until the rollback window ends. It exits non-zero in the window, or is not
// running (and Healthy, with a check) when the window ends, or never runs: RollingBack to
// the previous digest, and the failed digest is not tried again until the tag names
// another. Otherwise Idle again, updated. Every decision says why, for logs and status.

export type UpdatePhase = 'Idle' | 'Updating' | 'Verifying' | 'RollingBack';

export interface UpdateRecord {
  outcome: 'Updated' | 'RolledBack';
  /** When it was decided (epoch ms). */
  at: number;
  from?: string;
  to: string;
  reason: string;
}

export interface UpdateState {
  /** The spec's image reference the digests are of; a spec naming another starts afresh. */
  ref: string;
  phase: UpdatePhase;
  /** The digest the container is to run; the planner recreates it on this one. */
  target?: string;
  /** The digest the new one replaced: the rollback target while Updating and Verifying. */
  previous?: string;
  /** A digest that failed: not tried again while the tag names it. */
  failed?: string;
  /** Updating: the new container must run by then; Verifying: the window ends then. */
  deadline?: number;
  /** A non-zero exit of the new container seen in the window. */
  exit?: number;
  last?: UpdateRecord;
}

export type CheckDecision = 'current' | 'failed-before' | 'busy' | 'update';

/** What a check that found `latest` at the registry means for a container running `current`. */
export function decideCheck(state: UpdateState, current: string | undefined, latest: string): CheckDecision {
  if (state.phase !== 'Idle') return 'busy';
  if (latest === current) return 'current';
  if (latest === state.failed) return 'failed-before';
  return 'update';
}

/**
 * The new digest is pulled: the container is to be recreated on it. It has `graceMs` (the
 * old one's stop) plus the window to be running.
 */
export function beginUpdate(state: UpdateState, current: string | undefined, latest: string, now: number, windowMs: number, graceMs: number): UpdateState {
  return { ref: state.ref, phase: 'Updating', target: latest, previous: current, failed: state.failed, deadline: now + graceMs + windowMs, last: state.last };
}

/** What the container looks like now, for observe(). */
export interface UpdateObservation {
  now: number;
  /** The digest the current container was made from. */
  digest?: string;
  running: boolean;
  /** The exit code, when its task has stopped. */
  exitCode?: number;
  /** undefined: the spec has no health check. */
  healthy?: boolean;
}

/** A non-zero exit of the key's task (from the event stream); counts only while Verifying. */
export function noteExit(state: UpdateState, exitCode: number): UpdateState {
  return state.phase === 'Verifying' && exitCode !== 0 && state.exit === undefined ? { ...state, exit: exitCode } : state;
}

export function observeUpdate(state: UpdateState, o: UpdateObservation, windowMs: number): UpdateState {
  const onTarget = o.digest !== undefined && o.digest === state.target;
  const failedExit = o.exitCode !== undefined && o.exitCode !== 0 ? o.exitCode : undefined;
  switch (state.phase) {
    case 'Idle':
      return state;
    case 'Updating':
      if (onTarget && failedExit !== undefined) return rollBack(state, `exited with code ${failedExit}`, o.now);
      if (onTarget && o.running) return { ...state, phase: 'Verifying', deadline: o.now + windowMs, exit: undefined };
      if (o.now >= (state.deadline ?? Infinity)) return rollBack(state, 'not running within the rollback window', o.now);
      return state;
    case 'Verifying': {
      const exit = state.exit ?? (onTarget ? failedExit : undefined);
      if (exit !== undefined) return rollBack(state, `exited with code ${exit} in the rollback window`, o.now);
      if (o.now < (state.deadline ?? 0)) return state;
      if (!onTarget || !o.running) return rollBack(state, 'not running when the rollback window ended', o.now);
      if (o.healthy === false) return rollBack(state, 'not healthy when the rollback window ended', o.now);
      const last: UpdateRecord = { outcome: 'Updated', at: o.now, from: state.previous, to: state.target!, reason: 'ran through the rollback window' };
      return { ref: state.ref, phase: 'Idle', target: state.target, failed: state.failed, last };
    }
    case 'RollingBack':
      if (onTarget && o.running) return { ref: state.ref, phase: 'Idle', target: state.target, failed: state.failed, last: state.last };
      return state;
  }
}

/** Back to the previous digest; the failed one is remembered. Without one, stays put. */
function rollBack(state: UpdateState, reason: string, now: number): UpdateState {
  const failed = state.target!;
  const last: UpdateRecord = { outcome: 'RolledBack', at: now, from: failed, to: state.previous ?? failed, reason };
  if (state.previous === undefined) return { ref: state.ref, phase: 'Idle', target: failed, failed, last };
  return { ref: state.ref, phase: 'RollingBack', target: state.previous, failed, last };
}

/** "sha256:0123456789ab" for logs and messages. */
export function shortDigest(digest: string | undefined): string {
  return digest ? digest.slice(0, 19) : 'unknown';
}
