// The last termination of a container's task, kept in a label (LABEL_TERMINATION) so that
// a restart of converge, and `converge status` without a controller, still show it: an OOM
// kill (the exit alone reads as a SIGKILL) and a start that failed (no task is left to
// show anything; exit code 128 with the error, as docker records it).

import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import type { Termination } from '../reconcile/runtime.js';
import type { ContainersService } from './containers.js';
import { isDefinite } from './errors.js';
import { LABEL_TERMINATION } from './labels.js';

/** docker's exit code for a container whose process could not be started. */
export const START_ERROR_EXIT_CODE = 128;
/** containerd refuses labels over 4 KiB (key and value); the message is cut well below. */
const MAX_MESSAGE = 1024;

export function terminationOf(labels: Record<string, string>): Termination | undefined {
  const text = labels[LABEL_TERMINATION];
  if (!text) return undefined;
  try {
    const t = JSON.parse(text) as Partial<Termination>;
    if (t.reason !== 'OOMKilled' && t.reason !== 'StartError') return undefined;
    return { reason: t.reason, exitCode: typeof t.exitCode === 'number' ? t.exitCode : undefined, message: typeof t.message === 'string' ? t.message : undefined, at: typeof t.at === 'string' ? t.at : undefined };
  } catch {
    return undefined; // written by hand, or by something else: not ours to read
  }
}

/** Writes (or with undefined, removes) the container's termination label. */
export async function writeTermination(containers: ContainersService, id: string, t: Termination | undefined): Promise<void> {
  const value = t ? JSON.stringify({ ...t, message: t.message?.slice(0, MAX_MESSAGE) }) : '';
  await containers.updateLabels(id, { [LABEL_TERMINATION]: value });
}

/**
 * Runs a task's create and start: a definite failure is recorded as a StartError (exit code
 * 128, the error's message), a success removes what an earlier task left recorded.
 */
export async function recordStart<T>(containers: ContainersService, id: string, labels: Record<string, string>, log: Logger, start: () => Promise<T>): Promise<T> {
  let started: T;
  try {
    started = await start();
  } catch (err) {
    if (isDefinite(err)) {
      const t: Termination = { reason: 'StartError', exitCode: START_ERROR_EXIT_CODE, message: messageOf(err), at: new Date().toISOString() };
      await writeTermination(containers, id, t).catch((e: unknown) => log.warn({ err: e, id }, 'start error not recorded on the container'));
    }
    throw err;
  }
  if (labels[LABEL_TERMINATION]) await writeTermination(containers, id, undefined).catch((e: unknown) => log.warn({ err: e, id }, 'old termination not cleared'));
  return started;
}
