// The Kubernetes source: Container custom resources whose spec.nodeName is this node, as
// full snapshots (level-based, like the directory source). It only reads. What converge
// writes back (status, finalizers, Events) is publish/kube/, which follows what this
// source has read through the KubeResources below and what the controller did through its
// reconcile stream.
//
// - A resource that fails converge's checks is a problem of the snapshot (and of the
//   resource's status, which publish/kube/ writes); the container of its last good version
//   keeps running (bad input never destroys good state).
// - A resource being deleted (deletionTimestamp) leaves the desired set, so the controller
//   removes its container; publish/kube/ then removes the finalizer and the resource goes.
// - The API server going away is "unknown, never empty": the last known resources stay
//   desired and the snapshot says complete: false until the informer lists or watches again.
// - Empty is suspicious (desired.ts holds an empty read) only until this run has read one of
//   this node's resources: once it has, the API server saying there are none left (the last
//   one deleted, or moved to another node) is an answer, not a mounted-over directory.

import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../clock.js';
import type { DesiredContainer, Key, Problem, Snapshot } from '../../spec/types.js';
import { formatProblem } from '../../spec/load.js';
import type { Source } from '../../desired.js';
import type { KubeClient } from './client.js';
import { convert, keyOfObject, type KubeObject } from './convert.js';
import { GROUP, PLURAL, VERSION } from './crd.js';
import { Informer } from './informer.js';

export interface KubeSourceOptions {
  client: KubeClient;
  log: Logger;
  /** Only resources with this spec.nodeName are handled. */
  nodeName: string;
  /** Watch one namespace; all namespaces when absent. */
  namespace?: string;
  /** Back-off of list/watch retries. */
  backoff?: { initialMs: number; maxMs: number };
  watchTimeoutSeconds?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

/** What the source has read of this node's resources, for the side that writes back. */
export interface KubeResources {
  /** The cached resource of a key ("namespace/name"). */
  objectOf(key: Key): KubeObject | undefined;
  /** The keys of every cached resource, those being deleted included. */
  keys(): Key[];
  /** The spec problems of a key's resource as of the last snapshot, formatted. */
  problemsOf(key: Key): string[];
  /**
   * Called after every snapshot with the keys of every cached resource. Returns a function
   * that removes the listener.
   */
  onRead(listener: (keys: Key[]) => void): () => void;
}

export interface KubeSource extends Source, KubeResources {
  readonly informer: Informer;
}

export function createKubeSource(opts: KubeSourceOptions): KubeSource {
  const name = 'kube';
  const log = opts.log.child({ source: name });
  const base = `/apis/${GROUP}/${VERSION}`;
  const path = opts.namespace ? `${base}/namespaces/${opts.namespace}/${PLURAL}` : `${base}/${PLURAL}`;
  const lastGood = new Map<Key, DesiredContainer>();
  const problemsByKey = new Map<Key, string[]>();
  /** Key -> the problems last logged for it: every change of any resource reads them all again. */
  const said = new Map<Key, string>();
  const readers = new Set<(keys: Key[]) => void>();
  let onSnapshot: ((s: Snapshot) => void) | undefined;
  let stopped = false;
  /** This run has read at least one of this node's resources. */
  let sawResources = false;

  const informer = new Informer({
    client: opts.client,
    path,
    log,
    // The server filters where it can (selectableFields in the CRD); this check stays, for the servers that cannot.
    fieldSelector: `spec.nodeName=${opts.nodeName}`,
    keep: (obj) => obj.spec?.nodeName === opts.nodeName,
    onChange: () => emit(),
    backoff: opts.backoff,
    watchTimeoutSeconds: opts.watchTimeoutSeconds,
    clock: opts.clock ?? systemClock,
  });

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
      const text = result.problems.map(formatProblem);
      if (said.get(key) !== text.join('\n')) {
        log.warn({ key, generation: obj.metadata.generation, problems: text, keptLastGood: good !== undefined }, 'resource has problems; keeping its last good spec');
      }
      said.set(key, text.join('\n'));
    }
    for (const key of [...lastGood.keys()]) if (!present.has(key)) lastGood.delete(key);
    for (const key of [...said.keys()]) if (!problemsByKey.has(key)) said.delete(key);
    if (!informer.synced) {
      const why = informer.lastError?.message ?? 'not read yet';
      problems.unshift({ file: `kube:${opts.client.server}`, path: '', message: `cannot read Container resources (${why}); the last known ones are kept` });
    }
    // A resource being deleted is no spec, but the source is not empty: its removal is asked for.
    sawResources ||= informer.objects.size > 0;
    onSnapshot({ source: name, specs, problems, complete: informer.synced, empty: informer.objects.size === 0 && !sawResources });
    const keys = [...present];
    for (const reader of [...readers]) reader(keys);
  }

  return {
    name,
    informer,
    objectOf: (key) => informer.objects.get(key),
    keys: () => [...informer.objects.keys()],
    problemsOf: (key) => problemsByKey.get(key) ?? [],
    onRead(listener) {
      readers.add(listener);
      return () => readers.delete(listener);
    },
    async start(cb) {
      onSnapshot = cb;
      log.info({ server: opts.client.server, path, nodeName: opts.nodeName }, 'watching Container resources');
      await informer.start();
      emit(); // the first full read, complete or not
    },
    async stop() {
      stopped = true;
      await informer.stop();
    },
  };
}
