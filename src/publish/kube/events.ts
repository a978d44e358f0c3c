// Kubernetes Events (core/v1) about Container resources, so `kubectl describe ctr web` and
// `kubectl get events` show what converge did on the node: Created, Started, Restarted,
// Removed (Normal) and Failed (Warning). Recording never blocks or fails the caller: an
// event that cannot be posted is logged and dropped, as client-go's recorder does. The
// same Warning for the same object is posted at most once per `repeatMs`.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../clock.js';
import type { KubeClient } from '../../sources/kube/client.js';
import type { KubeObject } from '../../sources/kube/convert.js';
import { oneLine } from '../../spec/quote.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  record(obj: KubeObject, type: EventType, reason: string, message: string): void;
  /** Resolves when every event posted so far has been answered. */
  flush(): Promise<void>;
}

/** kubectl describe shows an Event on one line; the API server caps events.k8s.io notes at 1 KiB. */
export const EVENT_MESSAGE_MAX = 1000;

export function createEventRecorder(opts: { client: KubeClient; log: Logger; nodeName: string; repeatMs?: number; clock?: Clock }): EventRecorder {
  const repeatMs = opts.repeatMs ?? 5 * 60_000;
  const clock = opts.clock ?? systemClock;
  const lastWarning = new Map<string, { message: string; at: number }>();
  const pending = new Set<Promise<void>>();

  return {
    record(obj, type, reason, text) {
      // An Event is one line and short, whatever the message carries.
      const message = oneLine(text, EVENT_MESSAGE_MAX);
      const uid = obj.metadata.uid ?? obj.metadata.name;
      if (type === 'Warning') {
        const last = lastWarning.get(`${uid}/${reason}`);
        if (last && last.message === message && clock.now() - last.at < repeatMs) return;
        lastWarning.set(`${uid}/${reason}`, { message, at: clock.now() });
      }
      const namespace = obj.metadata.namespace ?? 'default';
      const now = new Date(clock.now()).toISOString();
      const event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${obj.metadata.name}.${clock.now().toString(16)}${randomBytes(2).toString('hex')}`, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          namespace,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        reason,
        message,
        type,
        source: { component: 'converge', host: opts.nodeName },
        firstTimestamp: now.replace(/\.\d+Z$/, 'Z'),
        lastTimestamp: now.replace(/\.\d+Z$/, 'Z'),
        count: 1,
        reportingComponent: 'converge.dev/converge',
        reportingInstance: opts.nodeName,
      };
      const p = opts.client
        .request('POST', `/api/v1/namespaces/${namespace}/events`, { body: event, timeoutMs: 5_000 })
        .then(
          () => opts.log.debug({ key: `${namespace}/${obj.metadata.name}`, reason }, 'event recorded'),
          (err) => opts.log.warn({ key: `${namespace}/${obj.metadata.name}`, reason, err }, 'could not record a kubernetes event'),
        )
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async flush() {
      await Promise.all([...pending]);
    },
  };
}
