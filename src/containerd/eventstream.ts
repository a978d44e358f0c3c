// The task event stream of one namespace as converge consumes it: subscribes, proves the
// subscription live, reconnects with backoff while containerd is away, and says
// 'connected' after every (re)connect so the consumer resyncs whatever it may have missed.

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Backoff } from '../backoff.js';
import { systemClock, type Clock } from '../clock.js';
import type { RuntimeEvent } from '../reconcile/runtime.js';
import type { Key } from '../spec/types.js';
import { type Envelope, type EventsService, exitOfDelete, toRuntimeEvent } from './events.js';

export const TASK_TOPICS = ['/tasks/exit', '/tasks/oom', '/tasks/start', '/tasks/delete'] as const;

/**
 * converge publishes to this topic of its own namespace right after subscribing. A
 * server-side stream says nothing until its first message, so seeing our own probe come
 * back is the only proof that the subscription is registered and nothing is being missed.
 */
export const PROBE_TOPIC = '/converge/probe';
const PROBE_TYPE_URL = 'converge.dev/events/Probe';
const PROBE_INTERVAL_MS = 200;

/** One filter per topic; containerd ORs filters and ANDs the conditions inside one. */
export function taskEventFilters(namespace: string): string[] {
  return [...TASK_TOPICS, PROBE_TOPIC].map((t) => `namespace==${JSON.stringify(namespace)},topic==${JSON.stringify(t)}`);
}

export interface EventStreamOptions {
  events: EventsService;
  namespace: string;
  log: Logger;
  /** How long a new subscription may take to prove itself live (default 10 s). */
  probeTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  clock?: Clock;
}

class ProbeTimeout extends Error {} // only a marker on an abort reason; never thrown

export async function* watchTaskEvents(opts: EventStreamOptions, signal: AbortSignal): AsyncGenerator<RuntimeEvent> {
  const { events, namespace, log } = opts;
  const probeTimeoutMs = opts.probeTimeoutMs ?? 10_000;
  const clock = opts.clock ?? systemClock;
  const backoff = new Backoff({ initialMs: opts.minBackoffMs ?? 100, maxMs: opts.maxBackoffMs ?? 5_000, resetAfterMs: 0 }, clock);
  const filters = taskEventFilters(namespace);
  const exits = new ExitLedger((what, event) => log.debug({ key: event.key, pid: event.pid, exitStatus: event.exitStatus }, what));

  while (!signal.aborted) {
    const attempt = new AbortController();
    const onAbort = (): void => attempt.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let connected = false;
    const early: RuntimeEvent[] = [];
    const probeTimer = setTimeout(() => attempt.abort(new ProbeTimeout()), probeTimeoutMs);
    let iterator: AsyncGenerator<Envelope, void, undefined> | undefined;
    try {
      iterator = events.subscribe(filters, { signal: attempt.signal });
      // The generator makes the Subscribe call on the first next(); only then may we probe.
      // The next message is asked for only after the last one is handed over (the gRPC
      // stream buffers meanwhile), so no promise is left to reject unobserved.
      for (let pending = iterator.next(), probing = false; ; pending = iterator.next()) {
        if (!probing) {
          probing = true;
          void probeUntilSeen(events, attempt.signal, () => connected, log);
        }
        const item = await pending;
        if (item.done) break;
        const env = item.value;
        if (env.topic === PROBE_TOPIC) {
          if (connected) continue;
          connected = true;
          clearTimeout(probeTimer);
          if (backoff.failures > 0) log.info({ namespace, failures: backoff.failures }, 'event stream reconnected');
          backoff.reset();
          yield { type: 'connected' };
          // Events that came in before the probe were already live; hand them over now.
          for (const e of early.splice(0)) yield e;
          continue;
        }
        for (const event of exits.pass(env)) {
          if (connected) yield event;
          else early.push(event);
        }
      }
      if (!signal.aborted && attempt.signal.reason instanceof ProbeTimeout) {
        throw new Error(`no probe event within ${probeTimeoutMs} ms`);
      }
      if (!signal.aborted) log.warn({ namespace }, 'event stream ended; reconnecting');
    } catch (err) {
      if (signal.aborted) break;
      // The first failure is news; the retries while containerd stays down are not.
      const level = backoff.failures === 0 ? 'warn' : 'debug';
      log[level]({ namespace, err, failures: backoff.failures + 1 }, 'event stream failed; reconnecting');
    } finally {
      clearTimeout(probeTimer);
      signal.removeEventListener('abort', onAbort);
      attempt.abort();
      // Lets the subscription's own cleanup run when our consumer stopped early.
      iterator?.return(undefined).catch(() => undefined);
    }
    if (signal.aborted) break;
    // A stream that was up and ended retries at once; a failing one backs off.
    if (!connected) await backoff.sleep(signal);
  }
}

const LEDGER_KEYS = 4096;

/**
 * One exit per task, whichever way containerd reports it. containerd 2.x can lose a task's
 * exit event: a shim forwards it on its own connection, retrying in the background, and a
 * shim whose task is deleted right after it ended shuts down with the retry pending (seen
 * after a containerd restart, and for a task killed and deleted at once). The TaskDelete
 * event that follows carries the same exit, so a delete whose exit was not seen hands it on
 * first (unless a newer task has started since). An exit seen twice (a late original after
 * that, or the 255 "unknown" containerd sends when it cleans up after a shim whose task had
 * already exited) is handed on once.
 */
export class ExitLedger {
  /** Per key: the pid of its last task seen, and whether that task's exit was handed on. */
  private readonly last = new Map<Key, { pid: number; exited: boolean }>();

  constructor(private readonly note_?: (what: string, exit: Extract<RuntimeEvent, { type: 'exit' }>) => void) {}

  pass(env: Envelope): RuntimeEvent[] {
    const event = toRuntimeEvent(env);
    if (!event || event.type === 'connected' || event.type === 'oom') return event ? [event] : [];
    const seen = this.last.get(event.key);
    if (event.type === 'start') {
      if (!(seen?.pid === event.pid && seen.exited)) this.note(event.key, event.pid, false);
      return [event];
    }
    const exit = event.type === 'exit' ? event : exitOfDelete(env);
    if (!exit) return [event];
    // Shims forward on their own connections: an older task's delete can come after a newer
    // task's start. Its exit is not the newer task's.
    if (event.type === 'delete' && seen && !seen.exited && seen.pid !== exit.pid) return [event];
    const known = seen?.exited === true && (exit.pid === seen.pid || exit.pid === 0);
    if (!known) this.note(exit.key, exit.pid || (seen?.pid ?? 0), true);
    if (known) this.note_?.(event.type === 'exit' ? 'exit seen already; not passed on again' : 'delete of a task whose exit was seen', exit);
    else if (event.type === 'delete') this.note_?.('exit not seen; the one its delete carries passed on', exit);
    if (event.type === 'exit') return known ? [] : [event];
    return known ? [event] : [exit, event];
  }

  private note(key: Key, pid: number, exited: boolean): void {
    this.last.delete(key); // re-inserted last: the oldest key goes first when there are too many
    this.last.set(key, { pid, exited });
    if (this.last.size > LEDGER_KEYS) this.last.delete(this.last.keys().next().value as Key);
  }
}

/** Publishes probes until one comes back through the stream (or the attempt ends). */
async function probeUntilSeen(
  events: EventsService,
  signal: AbortSignal,
  seen: () => boolean,
  log: Logger,
): Promise<void> {
  const nonce = randomBytes(8);
  while (!signal.aborted && !seen()) {
    try {
      await events.publish(PROBE_TOPIC, { type_url: PROBE_TYPE_URL, value: nonce }, { signal, timeoutMs: 2_000 });
    } catch (err) {
      if (signal.aborted) return;
      log.debug({ err }, 'event stream probe failed');
    }
    await sleep(PROBE_INTERVAL_MS, undefined, { signal }).catch(() => undefined);
  }
}
