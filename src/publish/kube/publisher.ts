// The way back to Kubernetes for the Container resources the Kubernetes source reads:
// status and finalizers (writer.ts) and Events (events.ts). It is fed by the controller's
// reconcile stream and status rows (through a ControllerView) and by the source's reads
// (KubeResources); the source itself never writes, and this never decides what is desired.
//
// A key's resource is looked at again whenever the controller reconciles the key, whenever
// the source reads (a resource that fails converge's checks never reaches the controller,
// and one being deleted waits here for its container to go), and every statusIntervalMs as
// a safety net. The finalizer goes once the controller has let go of the key and nothing of
// its container is left in the runtime.

import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../clock.js';
import type { ReconcileEvent } from '../../reconcile/controller.js';
import type { Key } from '../../spec/types.js';
import { describeHealth } from '../../reconcile/health.js';
import type { HealthChange } from '../../reconcile/prober.js';
import type { KubeClient } from '../../sources/kube/client.js';
import { GROUP, PLURAL, VERSION } from '../../sources/kube/crd.js';
import type { KubeObject } from '../../sources/kube/convert.js';
import type { KubeResources } from '../../sources/kube/source.js';
import { createEventRecorder, type EventRecorder } from './events.js';
import type { ControllerView } from './view.js';
import { StatusWriter } from './writer.js';

export interface KubePublisherOptions {
  client: KubeClient;
  /** What the Kubernetes source has read. */
  resources: KubeResources;
  view: ControllerView;
  log: Logger;
  /** Reported as the Events' source host and reporting instance. */
  nodeName: string;
  /** Back-off of failed writes of one key. */
  backoff?: { initialMs: number; maxMs: number };
  /** Safety net: look at every resource's status this often even without a reconcile. Default 10 s. */
  statusIntervalMs?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

export interface KubePublisher {
  readonly writer: StatusWriter;
  readonly events: EventRecorder;
  /** Stops following the controller and the source, and waits for the writes under way. */
  stop(): Promise<void>;
}

const EVENT_OF: Record<string, { reason: string; text: (e: ReconcileEvent, id: string) => string }> = {
  create: { reason: 'Created', text: (e, id) => `created container ${id} and started it (pid ${e.pid ?? '?'})` },
  recreate: { reason: 'Created', text: (e, id) => `recreated container ${id} (${e.reason}); started it (pid ${e.pid ?? '?'})` },
  start: { reason: 'Started', text: (e, id) => `started container ${id} (pid ${e.pid ?? '?'})` },
  restart: { reason: 'Restarted', text: (e, id) => `restarted container ${id}: ${e.reason} (pid ${e.pid ?? '?'})` },
  remove: { reason: 'Removed', text: (_e, id) => `removed container ${id} from containerd` },
  kill: { reason: 'Killing', text: (e, id) => `stopping container ${id}: ${e.reason}` },
};

/** The API path of one Container resource. */
export function resourcePath(obj: KubeObject): string {
  return `/apis/${GROUP}/${VERSION}/namespaces/${obj.metadata.namespace ?? 'default'}/${PLURAL}/${obj.metadata.name}`;
}

export function createKubePublisher(opts: KubePublisherOptions): KubePublisher {
  const { resources, view } = opts;
  // The same logger fields as the source's, so one resource's story reads as one.
  const log = opts.log.child({ source: 'kube' });
  const clock = opts.clock ?? systemClock;
  const statusIntervalMs = opts.statusIntervalMs ?? 10_000;
  const writer = new StatusWriter({
    client: opts.client,
    log,
    view,
    objectOf: (key) => resources.objectOf(key),
    problemsOf: (key) => resources.problemsOf(key),
    pathOf: resourcePath,
    mine: (obj) => obj.spec?.nodeName === opts.nodeName,
    backoff: opts.backoff,
    clock,
  });
  const events = createEventRecorder({ client: opts.client, log, nodeName: opts.nodeName, clock });
  let stopped = false;
  let ticker: unknown;

  function reconciled(e: ReconcileEvent): void {
    const obj = resources.objectOf(e.key);
    if (!obj) return;
    writer.poke(e.key);
    const ours = view.holder(e.key) === `kube:${e.key}` || obj.metadata.deletionTimestamp !== undefined;
    if (!ours) return;
    const id = e.key.replace('/', '.');
    if (e.error) events.record(obj, 'Warning', 'Failed', `${e.error.code}: ${e.error.message}`);
    const ev = e.action ? EVENT_OF[e.action] : undefined;
    if (ev) events.record(obj, 'Normal', ev.reason, ev.text(e, id));
  }

  /**
   * A denied resource, or one whose spec fails converge's checks, never reaches the
   * controller, so its Warning Event comes from here, after every read and tick (the
   * recorder posts the same Warning once per 5 minutes).
   */
  function recordWarnings(key: Key): void {
    const obj = resources.objectOf(key);
    if (!obj || obj.metadata.deletionTimestamp) return;
    const problems = resources.problemsOf(key);
    if (problems.length > 0) events.record(obj, 'Warning', 'InvalidSpec', `invalid spec (generation ${obj.metadata.generation ?? '?'}): ${problems.join('; ')}`);
    const denials = view.denials?.(key) ?? [];
    if (denials.length > 0) events.record(obj, 'Warning', 'Denied', `denied by policy: ${denials.join('; ')}`);
  }

  /** A health transition: the status again, and an Event (Unhealthy is a Warning). */
  function healthChanged(e: HealthChange): void {
    if (e.before.status === e.after.status) return;
    const obj = resources.objectOf(e.key);
    if (!obj || view.holder(e.key) !== `kube:${e.key}`) return;
    writer.poke(e.key);
    const text = `container ${e.key.replace('/', '.')} (pid ${e.pid}): ${describeHealth(e.after)}`;
    if (e.after.status === 'Unhealthy') events.record(obj, 'Warning', 'Unhealthy', text);
    else events.record(obj, 'Normal', e.after.status, text);
  }

  function tick(): void {
    ticker = clock.setTimeout(() => {
      if (stopped) return;
      for (const key of resources.keys()) {
        writer.poke(key);
        recordWarnings(key);
      }
      tick();
    }, statusIntervalMs);
  }

  const unsubscribe = [
    view.onReconcile(reconciled),
    view.onHealth?.(healthChanged) ?? ((): void => undefined),
    resources.onRead((keys) => {
      for (const key of keys) {
        writer.poke(key);
        recordWarnings(key);
      }
    }),
  ];
  tick();

  return {
    writer,
    events,
    async stop() {
      stopped = true;
      clock.clearTimeout(ticker);
      for (const off of unsubscribe) off();
      await writer.stop();
      await events.flush();
    },
  };
}
