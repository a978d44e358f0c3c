// The Kubernetes source: Container custom resources whose spec.nodeName is this node, as
// full snapshots (level-based, like the directory source), plus the way back: status,
// finalizers and Events (writer.ts, events.ts), driven by the controller's reconciles.
//
// - A resource that fails converge's checks is reported on its status; the container of its
//   last good version keeps running (bad input never destroys good state).
// - A resource being deleted (deletionTimestamp) leaves the desired set, so the controller
//   removes its container; the writer then removes the finalizer and the resource goes.
// - The API server going away is "unknown, never empty": the last known resources stay
//   desired and the snapshot says complete: false until the informer lists or watches again.

import type { Logger } from 'pino';
import type { DesiredContainer, Key, Problem, Snapshot } from '../../spec/types.js';
import { formatProblem } from '../../spec/load.js';
import type { Source } from '../../desired.js';
import type { KubeClient } from './client.js';
import { convert, keyOfObject, type KubeObject } from './convert.js';
import { GROUP, PLURAL, VERSION } from './crd.js';
import { createEventRecorder, type EventRecorder } from './events.js';
import { Informer } from './informer.js';
import type { ControllerView } from './view.js';
import { StatusWriter } from './writer.js';
import type { ReconcileEvent } from '../../reconcile/controller.js';

export interface KubeSourceOptions {
  client: KubeClient;
  log: Logger;
  /** Only resources with this spec.nodeName are handled. */
  nodeName: string;
  /** Watch one namespace; all namespaces when absent. */
  namespace?: string;
  /** Back-off of list/watch retries. */
  backoff?: { initialMs: number; maxMs: number };
  /** Safety net: look at every resource's status this often even without a reconcile. Default 10 s. */
  statusIntervalMs?: number;
  watchTimeoutSeconds?: number;
}

export interface KubeSource extends Source {
  /** Connects the way back (status, events, finalizers) to the controller. */
  attach(view: ControllerView): void;
  readonly informer: Informer;
  readonly writer: StatusWriter;
  readonly events: EventRecorder;
}

const EVENT_OF: Record<string, { reason: string; text: (e: ReconcileEvent, id: string) => string }> = {
  create: { reason: 'Created', text: (e, id) => `created container ${id} and started it (pid ${e.pid ?? '?'})` },
  recreate: { reason: 'Created', text: (e, id) => `recreated container ${id} (${e.reason}); started it (pid ${e.pid ?? '?'})` },
  start: { reason: 'Started', text: (e, id) => `started container ${id} (pid ${e.pid ?? '?'})` },
  restart: { reason: 'Restarted', text: (e, id) => `restarted container ${id}: ${e.reason} (pid ${e.pid ?? '?'})` },
  remove: { reason: 'Removed', text: (_e, id) => `removed container ${id} from containerd` },
};

export function createKubeSource(opts: KubeSourceOptions): KubeSource {
  const name = 'kube';
  const log = opts.log.child({ source: name });
  const base = `/apis/${GROUP}/${VERSION}`;
  const path = opts.namespace ? `${base}/namespaces/${opts.namespace}/${PLURAL}` : `${base}/${PLURAL}`;
  const lastGood = new Map<Key, DesiredContainer>();
  const problemsByKey = new Map<Key, string[]>();
  let onSnapshot: ((s: Snapshot) => void) | undefined;
  let view: ControllerView | undefined;
  let unsubscribe: (() => void) | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let stopped = false;

  const informer = new Informer({
    client: opts.client,
    path,
    log,
    keep: (obj) => obj.spec?.nodeName === opts.nodeName,
    onChange: () => emit(),
    backoff: opts.backoff,
    watchTimeoutSeconds: opts.watchTimeoutSeconds,
  });
  const objectOf = (key: Key) => informer.objects.get(key);
  const writer = new StatusWriter({
    client: opts.client,
    log,
    objectOf,
    problemsOf: (key) => problemsByKey.get(key) ?? [],
    pathOf: (obj) => `${base}/namespaces/${obj.metadata.namespace ?? 'default'}/${PLURAL}/${obj.metadata.name}`,
    backoff: opts.backoff,
  });
  const events = createEventRecorder({ client: opts.client, log, nodeName: opts.nodeName });

  function emit(): void {
    if (stopped || !onSnapshot) return;
    const specs: DesiredContainer[] = [];
    const problems: Problem[] = [];
    const present = new Set<Key>();
    problemsByKey.clear();
    for (const obj of informer.objects.values()) {
      const key = keyOfObject(obj);
      present.add(key);
      if (obj.metadata.deletionTimestamp) continue; // leaves the desired set: the controller removes it
      const result = convert(obj);
      if (result.ok) {
        lastGood.set(key, result.desired);
        specs.push(result.desired);
        continue;
      }
      problems.push(...result.problems);
      problemsByKey.set(key, result.problems.map((p) => `${p.path ? `${p.path}: ` : ''}${p.message}`));
      const good = lastGood.get(key);
      if (good) specs.push(good);
      log.warn({ key, generation: obj.metadata.generation, problems: result.problems.map(formatProblem), keptLastGood: good !== undefined }, 'resource has problems; keeping its last good spec');
    }
    for (const key of [...lastGood.keys()]) if (!present.has(key)) lastGood.delete(key);
    if (!informer.synced) {
      const why = informer.lastError?.message ?? 'not read yet';
      problems.unshift({ file: `kube:${opts.client.server}`, path: '', message: `cannot read Container resources (${why}); the last known ones are kept` });
    }
    onSnapshot({ source: name, specs, problems, complete: informer.synced });
    for (const key of present) writer.poke(key);
  }

  function reconciled(e: ReconcileEvent): void {
    const obj = objectOf(e.key);
    if (!obj || !view) return;
    writer.poke(e.key);
    const ours = view.holder(e.key) === `kube:${e.key}` || obj.metadata.deletionTimestamp !== undefined;
    if (!ours) return;
    const id = e.key.replace('/', '.');
    if (e.error) events.record(obj, 'Warning', 'Failed', `${e.error.code}: ${e.error.message}`);
    const ev = e.action ? EVENT_OF[e.action] : undefined;
    if (ev) events.record(obj, 'Normal', ev.reason, ev.text(e, id));
  }

  return {
    name,
    informer,
    writer,
    events,
    attach(v) {
      view = v;
      writer.attach(v);
      unsubscribe = v.onReconcile(reconciled);
    },
    async start(cb) {
      onSnapshot = cb;
      log.info({ server: opts.client.server, path, nodeName: opts.nodeName }, 'watching Container resources');
      await informer.start();
      emit(); // the first full read, complete or not
      ticker = setInterval(() => {
        for (const key of informer.objects.keys()) writer.poke(key);
      }, opts.statusIntervalMs ?? 10_000).unref();
    },
    async stop() {
      stopped = true;
      if (ticker) clearInterval(ticker);
      unsubscribe?.();
      await informer.stop();
      await writer.stop();
      await events.flush();
    },
  };
}
