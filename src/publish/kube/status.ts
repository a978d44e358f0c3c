// The status converge writes on a Container resource, built from the controller's status
// row for its key (pure; writer.ts decides when to send it). Conditions follow the
// Kubernetes conventions: Ready, Progressing and Degraded, each with status True/False/
// Unknown, a CamelCase reason, a message, observedGeneration, and a lastTransitionTime
// that moves only when the condition's status does. Nothing in it changes with the clock
// alone (no "next try in 3s"), so an unchanged container never causes a write.

import type { StatusRow } from '../../reconcile/status.js';
import { canonicalJson } from '../../spec/hash.js';
import { oneLine } from '../../spec/quote.js';

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded' | 'Healthy';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  observedGeneration: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface ContainerStatus {
  observedGeneration: number;
  phase: string;
  containerID?: string;
  pid?: number;
  restartCount?: number;
  exitCode?: number;
  startedAt?: string;
  /** Its address on converge's bridge (network: bridge). */
  ip?: string;
  /** What it publishes on the node: "127.0.0.1:18080->8080/tcp". */
  ports?: string[];
  message?: string;
  /** Starting, Healthy or Unhealthy: the running task's health check, when it has one. */
  health?: string;
  conditions: Condition[];
}

export interface StatusInput {
  /** metadata.generation of the resource. */
  generation: number;
  /** The controller's row for the key, when the controller knows the key. */
  row?: StatusRow;
  /** This resource's spec problems, formatted (invalid spec). */
  problems: string[];
  /** What the policy denies of this resource's spec, formatted. */
  denials?: string[];
  /** The origin that holds the key instead of this resource (a conflict). */
  heldBy?: string;
  /** deletionTimestamp is set. */
  deleting: boolean;
  /** The status on the object now (for lastTransitionTime and startedAt). */
  previous?: Partial<ContainerStatus>;
  now: Date;
}

type Triple = [reason: string, status: ConditionStatus];

interface Shape {
  phase: string;
  ready: Triple;
  progressing: Triple;
  degraded: Triple;
}

const T: ConditionStatus = 'True';
const F: ConditionStatus = 'False';
const U: ConditionStatus = 'Unknown';

/** Phase -> conditions. */
function shapeOf(phase: string, exitCode: number | undefined): Shape {
  switch (phase) {
    case 'Running':
      return { phase, ready: ['Running', T], progressing: ['Converged', F], degraded: ['AsExpected', F] };
    case 'Paused':
      return { phase, ready: ['Paused', F], progressing: ['Paused', F], degraded: ['AsExpected', F] };
    case 'Pending':
      return { phase, ready: ['Pending', F], progressing: ['Creating', T], degraded: ['AsExpected', F] };
    case 'Pulling':
      return { phase, ready: ['PullingImage', F], progressing: ['PullingImage', T], degraded: ['AsExpected', F] };
    case 'Created':
      return { phase, ready: ['NotStarted', F], progressing: ['Starting', T], degraded: ['AsExpected', F] };
    case 'Updating':
      return { phase, ready: ['Updating', F], progressing: ['Updating', T], degraded: ['AsExpected', F] };
    case 'Exited':
      return exitCode === 0 || exitCode === undefined
        ? { phase, ready: ['Completed', F], progressing: ['Completed', F], degraded: ['AsExpected', F] }
        : { phase, ready: ['Exited', F], progressing: ['Exited', F], degraded: ['ExitedWithError', T] };
    case 'BackOff':
      return { phase, ready: ['BackOff', F], progressing: ['BackOff', T], degraded: ['CrashLoopBackOff', T] };
    case 'Failed':
      return { phase, ready: ['Failed', F], progressing: ['Failed', F], degraded: ['ReconcileFailed', T] };
    case 'Removing':
      return { phase, ready: ['Removing', F], progressing: ['Removing', T], degraded: ['AsExpected', F] };
    case 'Invalid':
      return { phase, ready: ['InvalidSpec', F], progressing: ['InvalidSpec', F], degraded: ['InvalidSpec', T] };
    case 'Conflict':
      return { phase, ready: ['Conflict', F], progressing: ['Conflict', F], degraded: ['Conflict', T] };
    case 'Denied':
      return { phase, ready: ['PolicyDenied', F], progressing: ['PolicyDenied', F], degraded: ['PolicyDenied', T] };
    default:
      return { phase, ready: [phase || 'Unknown', U], progressing: [phase || 'Unknown', U], degraded: [phase || 'Unknown', U] };
  }
}

/** The row's message without what changes by the second (back-off countdown, pull progress). */
export function stableMessage(message: string): string {
  return message
    .replace(/; next try in \d+s/g, '')
    .replace(/next try in \d+s;? ?/g, '')
    .replace(/^(pulling \S+): .* of .* \(\d+%\)/, '$1') // pull progress: "x MiB of y MiB (z%)"
    .trim();
}

/** Well under the CRD's 32768 for a condition message; more is noise in `kubectl describe`. */
export const STATUS_MESSAGE_MAX = 4000;

const iso = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

export function buildContainerStatus(input: StatusInput): ContainerStatus {
  const { row, problems, generation } = input;
  const denials = input.denials ?? [];
  let phase: string;
  let message: string;
  if (input.deleting) {
    phase = 'Removing';
    message = 'removing the container before the resource goes';
  } else if (input.heldBy) {
    phase = 'Conflict';
    message = `${input.heldBy} declared this namespace/name first; this resource is ignored while it does`;
  } else if (problems.length > 0) {
    phase = row ? row.phase : 'Invalid';
    message = `invalid spec (generation ${generation}): ${problems.join('; ')}; ${row ? 'the last good version keeps running' : 'nothing runs until it is fixed'}`;
  } else if (denials.length > 0) {
    phase = row ? row.phase : 'Denied';
    message = `denied by policy (generation ${generation}): ${denials.join('; ')}; ${row ? 'the last allowed version keeps running' : 'nothing runs until the policy allows it'}`;
  } else if (row) {
    phase = row.phase;
    message = stableMessage(row.message);
  } else {
    phase = 'Pending';
    message = 'waiting for the controller';
  }
  // The last gate before the API server: whatever a message carries (a registry's words, a
  // file's), it is one line of bounded length there.
  message = oneLine(message, STATUS_MESSAGE_MAX);
  const exitCode = row?.exitCode ?? undefined;
  const shape = shapeOf(phase, exitCode === null ? undefined : exitCode);
  // A running task with a health check is Ready only once it passes (a readiness probe's rule).
  const health = phase === 'Running' && !input.heldBy ? (row?.health ?? undefined) : undefined;
  if (health === 'Starting') shape.ready = ['HealthCheckStarting', F];
  if (health === 'Unhealthy') [shape.ready, shape.degraded] = [['Unhealthy', F], ['Unhealthy', T]];
  if (problems.length > 0 && !input.deleting && !input.heldBy) shape.degraded = ['InvalidSpec', T];
  else if (denials.length > 0 && !input.deleting && !input.heldBy) shape.degraded = ['PolicyDenied', T];

  const previous = input.previous?.conditions ?? [];
  const condition = (type: ConditionType, [reason, status]: Triple, text: string): Condition => {
    const before = previous.find((c) => c.type === type);
    return {
      type,
      status,
      observedGeneration: generation,
      lastTransitionTime: before && before.status === status && before.lastTransitionTime ? before.lastTransitionTime : iso(input.now),
      reason,
      message: text,
    };
  };
  const status: ContainerStatus = { observedGeneration: generation, phase, conditions: [] };
  if (row && !input.heldBy) {
    status.containerID = row.id;
    if (row.pid !== null) status.pid = row.pid;
    status.restartCount = row.restarts;
    if (row.exitCode !== null) status.exitCode = row.exitCode;
    const startedAt = row.startedAt ?? (input.previous?.pid !== undefined && input.previous.pid === row.pid ? input.previous.startedAt : undefined);
    if (startedAt) status.startedAt = startedAt;
    if (row.ip) status.ip = row.ip;
    if (row.ports?.length) status.ports = [...row.ports];
  }
  if (message) status.message = message;
  if (health) status.health = health;
  const healthy = shape.degraded[1] === F;
  // Condition messages say what is, never what changes by the probe (its output is in the
  // Events), so a container whose health stays put causes no writes.
  const healthText = health === 'Healthy' ? 'health check passing' : health === 'Unhealthy' ? 'failing its health check' : 'no passing health check yet';
  const notReady = health && health !== 'Healthy' ? healthText : message;
  status.conditions = [
    condition('Ready', shape.ready, shape.ready[1] === T ? `running as pid ${row?.pid ?? '?'}` : notReady),
    condition('Progressing', shape.progressing, shape.progressing[1] === F && phase === 'Running' ? 'converged' : message),
    condition('Degraded', shape.degraded, healthy ? '' : health === 'Unhealthy' ? healthText : message),
  ];
  if (health) {
    const triple: Triple = health === 'Healthy' ? ['Healthy', T] : health === 'Unhealthy' ? ['Unhealthy', F] : ['Starting', U];
    status.conditions.push(condition('Healthy', triple, healthText));
  }
  return status;
}

/** Whether two statuses say the same (key order and absent members do not matter). */
export function sameStatus(a: unknown, b: unknown): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b ?? null);
}
