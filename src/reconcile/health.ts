// The health of one running task as its probes tell it: a pure state machine. A task starts
// Starting; one passing probe makes it Healthy; failureThreshold failures in a row make it
// Unhealthy, except that failures inside startPeriodSeconds do not count until the task has
// passed once (docker's start period). Unhealthy is what the planner acts on (kill, then the
// restart policy); a passing probe after it makes the task Healthy again (restartPolicy
// Never keeps probing and reporting).

import type { ResolvedHealthCheck } from '../spec/types.js';
import type { ProbeResult } from './runtime.js';

export type HealthStatus = 'Starting' | 'Healthy' | 'Unhealthy';

export interface LastProbe {
  /** When it finished (epoch ms). */
  at: number;
  healthy: boolean;
  output: string;
  code?: number;
  timedOut?: boolean;
}

export interface HealthState {
  status: HealthStatus;
  /** Consecutive failures that counted (outside the start period, or after a first pass). */
  failures: number;
  /** When probing of this task began: the start period runs from here. */
  since: number;
  /** Whether any probe of this task has passed (ends the start period early). */
  passedOnce: boolean;
  last?: LastProbe;
}

export function initialHealth(now: number): HealthState {
  return { status: 'Starting', failures: 0, since: now, passedOnce: false };
}

/** The state after one probe's result. Pure: the same inputs give the same state. */
export function observeProbe(state: HealthState, result: ProbeResult, check: Pick<ResolvedHealthCheck, 'startPeriodMs' | 'failureThreshold'>, now: number): HealthState {
  const last: LastProbe = { at: now, healthy: result.healthy, output: result.output };
  if (result.code !== undefined) last.code = result.code;
  if (result.timedOut) last.timedOut = true;
  if (result.healthy) return { ...state, status: 'Healthy', failures: 0, passedOnce: true, last };
  const inStartPeriod = !state.passedOnce && now - state.since < check.startPeriodMs;
  if (inStartPeriod) return { ...state, last };
  const failures = state.failures + 1;
  const status: HealthStatus = failures >= check.failureThreshold ? 'Unhealthy' : state.status;
  return { ...state, status, failures, last };
}

/** "3 consecutive failed probes; last: <output>" for status messages and logs. */
export function describeHealth(state: HealthState): string {
  const last = state.last;
  const detail = last ? (last.output || (last.code !== undefined ? `exit code ${last.code}` : '')) : '';
  const failures = `${state.failures} consecutive failed probe${state.failures === 1 ? '' : 's'}`;
  switch (state.status) {
    case 'Healthy':
      return state.failures > 0 ? `healthy; ${failures}${detail ? `; last: ${detail}` : ''}` : 'healthy';
    case 'Unhealthy':
      return `unhealthy: ${failures}${detail ? `; last: ${detail}` : ''}`;
    case 'Starting':
      return last && !last.healthy ? `starting; last probe failed${detail ? `: ${detail}` : ''}` : 'starting';
  }
}
