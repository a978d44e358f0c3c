// `converge restart`: a request recorded in memory and acted on by the key's next
// reconcile (plan.ts stops the task and starts a new one, counted), so the controller stays
// the only actor on a task.

import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { DesiredStore } from '../desired.js';
import type { Key } from '../spec/types.js';
import { stopOf } from './apply.js';
import type { Memory } from './memory.js';

export type RestartAsk =
  | { ok: true; pid: number | null; restarts: number; graceMs: number }
  | { ok: false; status: 404 | 409; error: string };

/** Records a restart of `key` and queues it; refused for a key converge does not run, or a paused task. */
export function askRestart(
  key: Key,
  ctx: { store: DesiredStore; memory: Memory; clock: Clock; queue: { add(key: Key): void }; log: Logger },
): RestartAsk {
  const { store, memory, clock, queue, log } = ctx;
  const d = store.desired().get(key);
  const a = memory.actual.get(key);
  if (!d && !a) return { ok: false, status: 404, error: `no container ${key}` };
  if (!d || !a?.managed) return { ok: false, status: 409, error: `${key} is ${!d ? 'no longer desired' : 'not made by converge yet'}: nothing to restart` };
  if (a.task?.status === 'paused' || a.task?.status === 'pausing') return { ok: false, status: 409, error: `the task of ${key} is paused (ctr task resume first)` };
  memory.state(key).restartRequested = clock.now();
  memory.reconciled.delete(key);
  queue.add(key);
  log.info({ key }, 'restart requested');
  return { ok: true, pid: a.task && a.task.status !== 'stopped' ? a.task.pid : null, restarts: a.restarts, graceMs: stopOf(a, d).graceMs };
}
