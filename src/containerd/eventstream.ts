// The task event stream of one namespace as converge consumes it: subscribes, proves the
// subscription live, reconnects with backoff while containerd is away, and says
// 'connected' after every (re)connect so the consumer resyncs whatever it may have missed.

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Backoff } from '../backoff.js';
import { systemClock, type Clock } from '../clock.js';
import type { RuntimeEvent } from '../reconcile/runtime.js';
import { type Envelope, type EventsService, toRuntimeEvent } from './events.js';

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
        const event = toRuntimeEvent(env);
        if (!event) continue;
        if (connected) yield event;
        else early.push(event);
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
