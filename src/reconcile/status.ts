// What `converge status` and /v1/status show: one row per container, derived from the
// desired store, the last actual state read from containerd and what the controller
// remembers of each key (errors, back-off, OOM).

import type { DesiredStore } from '../desired.js';
import { formatProblem } from '../spec/load.js';
import { formatPort } from '../spec/ports.js';
import type { Key } from '../spec/types.js';
import type { HealthState, HealthStatus } from './health.js';
import type { UpdateState } from './update.js';
import type { KeyState, Memory } from './memory.js';
import type { ActualContainer, Termination } from './runtime.js';

export type Phase = 'Pending' | 'Pulling' | 'Created' | 'Running' | 'Paused' | 'Exited' | 'BackOff' | 'Failed' | 'Updating' | 'Removing' | 'Orphaned' | 'Conflict';

export interface StatusRow {
  name: string;
  namespace: string;
  id: string;
  phase: Phase;
  restarts: number;
  exitCode: number | null;
  message: string;
  pid: number | null;
  image: string | null;
  source: string | null;
  /** The source revision (Git commit) the desired spec was read at; null for sources without revisions. */
  revision: string | null;
  /** ISO time the container was created in containerd, when known. */
  createdAt: string | null;
  /** ISO time converge last started its task, when known (not for adopted tasks). */
  startedAt: string | null;
  /** Its address on the bridge (network: bridge), when attached. */
  ip: string | null;
  /** What it publishes on the host, as docker shows it: "127.0.0.1:18080->8080/tcp". */
  ports: string[];
  /** The running task's health, when its spec has a healthCheck; null otherwise. */
  health: HealthStatus | null;
  /** Consecutive failed probes that counted. */
  healthFailures: number;
  /** What the last probe printed or answered (bounded), and when it finished. */
  healthOutput: string | null;
  lastProbeAt: string | null;
  /** The digest (index or manifest) of the image the container was created from, when recorded. */
  imageDigest: string | null;
  /** autoUpdate: Idle, Updating, Verifying or RollingBack; null without autoUpdate. */
  updatePhase: string | null;
  /** autoUpdate: the last update's outcome (Updated, RolledBack), when and why. */
  lastUpdate: { outcome: string; at: string; from: string | null; to: string; reason: string } | null;
}

export function buildStatus(
  store: DesiredStore,
  memory: Memory,
  now: number,
  healthOf: (key: Key) => HealthState | undefined = () => undefined,
  updateOf: (key: Key) => UpdateState | undefined = () => undefined,
): StatusRow[] {
  const { actual, states } = memory;
  const desired = store.desired();
  // Problems are shown in full (file, document, line, field): the row is where a user looks.
  // One that names a key (a conflict over it) goes on that key's row; others on the rows of
  // the file's containers.
  const problemsByFile = new Map<string, string>();
  const problemsByKey = new Map<Key, string[]>();
  for (const p of store.problems()) {
    // A claim that lost to an earlier one is a conflict; a dependency cycle says what it is.
    const text = p.path === 'metadata.name' ? `conflict: ${formatProblem(p)}` : formatProblem(p);
    if (p.key !== undefined) problemsByKey.set(p.key, [...(problemsByKey.get(p.key) ?? []), text]);
    else if (!problemsByFile.has(p.file)) problemsByFile.set(p.file, formatProblem(p));
  }
  // A container converge did not make is shown only when a spec asks for its name (a conflict).
  const actualKeys = [...actual.keys()].filter((key) => actual.get(key)!.managed || desired.has(key));
  const keys = [...new Set([...desired.keys(), ...actualKeys])].sort();
  return keys.map((key) => {
    const d = desired.get(key);
    const a = actual.get(key);
    const s = states.get(key) ?? {};
    const [namespace, name] = key.split('/', 2);
    const task = a?.task;
    const gone = a && !task ? memory.vanished(key, now) : undefined;
    let { phase, message } = phaseOf(store.ready(), d?.hash, a, gone !== undefined, s, now);
    if (s.error && phase !== 'Running') {
      phase = 'Failed';
      message = `${s.error.code}: ${s.error.message}`;
    }
    if (s.pulling) {
      // A retry shows what went wrong the last time, beside how far this one is.
      message = [pullMessage(s.pulling), s.error ? `last try: ${s.error.code}: ${s.error.message}` : ''].filter(Boolean).join('; ');
      phase = 'Pulling';
    }
    const health = task?.status === 'running' && d?.resolved.healthCheck && a?.specHash === d.hash ? (healthOf(key) ?? null) : null;
    const fileProblem = d ? problemsByFile.get(d.origin.replace(/^[a-z]+:/, '')) ?? problemsByFile.get(d.origin) : undefined;
    if (fileProblem) message = [message, `spec source has errors, running its last good version: ${fileProblem}`].filter(Boolean).join('; ');
    for (const problem of problemsByKey.get(key) ?? []) message = [message, problem].filter(Boolean).join('; ');
    return {
      name,
      namespace,
      id: a?.id ?? key,
      phase,
      restarts: a?.restarts ?? 0,
      exitCode: task?.status === 'stopped' ? (task.exitStatus ?? null) : (gone?.exitCode ?? (task ? null : (a?.termination?.exitCode ?? null))),
      message,
      pid: task && task.status !== 'stopped' && task.pid ? task.pid : null,
      image: d?.spec.spec.image ?? null,
      source: d?.origin ?? a?.origin ?? null,
      revision: d?.revision ?? null,
      createdAt: a?.createdAt?.toISOString() ?? null,
      startedAt: s.startedAt !== undefined ? new Date(s.startedAt).toISOString() : null,
      ip: a?.network?.ip ?? null,
      ports: (a?.network?.ports ?? []).map(formatPort),
      health: health?.status ?? (task?.status === 'running' && d?.resolved.healthCheck ? 'Starting' : null),
      healthFailures: health?.failures ?? 0,
      healthOutput: health?.last?.output ?? null,
      lastProbeAt: health?.last ? new Date(health.last.at).toISOString() : null,
      imageDigest: a?.image?.digest ?? null,
      ...updateFields(d?.resolved.autoUpdate === true, updateOf(key)),
    };
  });
}

function updateFields(autoUpdate: boolean, u: UpdateState | undefined): Pick<StatusRow, 'updatePhase' | 'lastUpdate'> {
  if (!autoUpdate) return { updatePhase: null, lastUpdate: null };
  const last = u?.last;
  return {
    updatePhase: u?.phase ?? 'Idle',
    lastUpdate: last ? { outcome: last.outcome, at: new Date(last.at).toISOString(), from: last.from ?? null, to: last.to, reason: last.reason } : null,
  };
}

/**
 * What a row says of its health beyond the HEALTH column, for a task that is not Healthy:
 * "unhealthy: 3 consecutive failed probes; last: exit code 1". Empty when there is nothing.
 */
export function healthSummary(row: Pick<StatusRow, 'health' | 'healthFailures' | 'healthOutput' | 'lastProbeAt'>): string {
  if (!row.health || row.health === 'Healthy') return '';
  const failures = `${row.healthFailures} consecutive failed probe${row.healthFailures === 1 ? '' : 's'}`;
  const last = row.healthOutput ? `; last: ${row.healthOutput.replace(/\s+/g, ' ').slice(0, 200)}` : '';
  if (row.health === 'Unhealthy') return `unhealthy: ${failures}${last}`;
  return row.lastProbeAt ? `starting${row.healthFailures ? `: ${failures}` : ''}${last}` : 'starting: no probe yet';
}

/** "auto-update: Verifying" while one is under way, else the last one's outcome; "" without. */
export function updateSummary(row: Pick<StatusRow, 'updatePhase' | 'lastUpdate'>): string {
  if (row.updatePhase && row.updatePhase !== 'Idle') return `auto-update: ${row.updatePhase}`;
  const last = row.lastUpdate;
  if (!last) return '';
  const digest = (d: string | null) => (d ? d.slice(7, 19) : '?');
  return last.outcome === 'Updated'
    ? `auto-updated ${digest(last.from)} -> ${digest(last.to)} at ${last.at}`
    : `auto-update to ${digest(last.from)} rolled back at ${last.at}: ${last.reason}`;
}

/** "pulling IMAGE: 1.2 MiB of 3.4 MiB (35%)", or "...: resolving" before the size is known. */
export function pullMessage(p: { image: string; done: number; total: number }): string {
  if (p.total <= 0) return `pulling ${p.image}: resolving`;
  return `pulling ${p.image}: ${mib(p.done)} of ${mib(p.total)} (${Math.floor((100 * p.done) / p.total)}%)`;
}

/** The phase from desired and actual alone, and what it says; errors and pulls come on top. */
function phaseOf(
  sourcesRead: boolean,
  hash: string | undefined,
  a: ActualContainer | undefined,
  vanished: boolean,
  s: KeyState,
  now: number,
): { phase: Phase; message: string } {
  if (hash === undefined) {
    return sourcesRead ? { phase: 'Removing', message: 'no longer desired' } : { phase: 'Orphaned', message: 'kept until every source has been read' };
  }
  if (!a) return { phase: 'Pending', message: s.waiting?.reason ?? '' };
  if (!a.managed && a.task && a.task.status !== 'stopped') {
    return { phase: 'Conflict', message: s.waiting?.reason ?? `container ${a.id} was not made by converge and its task runs` };
  }
  if (a.specHash !== hash) return { phase: 'Updating', message: 'spec changed' };
  const status = a.task?.status;
  if (status === 'running') return { phase: 'Running', message: '' };
  if (status === 'paused' || status === 'pausing') return { phase: 'Paused', message: status === 'pausing' ? 'pausing' : '' };
  // A start that failed, as recorded on the container (it has no task to show it).
  if (!a.task && a.termination?.reason === 'StartError') return { phase: 'Failed', message: terminationText(a.termination) };
  if (status !== 'stopped' && !vanished) return { phase: 'Created', message: '' };
  // Exited (or gone without converge deleting it): waiting out a back-off, or left alone.
  const phase: Phase = s.waiting?.at !== undefined ? 'BackOff' : 'Exited';
  let message = s.waiting ? `${s.waiting.reason}; next try in ${Math.max(0, Math.round(((s.waiting.at ?? now) - now) / 1000))}s` : '';
  if (s.oomKilled || a.termination?.reason === 'OOMKilled') message = message ? `OOMKilled; ${message}` : 'OOMKilled';
  return { phase, message };
}

/** "OOMKilled", or "StartError: <what containerd said>". */
export function terminationText(t: Termination): string {
  return t.reason === 'StartError' ? `StartError: ${t.message ?? 'the task could not be started'}` : t.reason;
}

function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}
