// The test API server's storage, with kube-apiserver's semantics: one revision counter (as
// etcd's) gives every write its resourceVersion; a bounded history of events serves watches
// from an old resourceVersion, and a version older than the history is 410 Gone. Objects
// get uid, creationTimestamp and generation; the status subresource, finalizers and
// deletionTimestamp, resourceVersion preconditions (409) and schema validation (422) work
// as on a real cluster. The HTTP layer (server.ts) only translates.

import { randomUUID } from 'node:crypto';
import { admit } from './admission.js';
import { ApiError, alreadyExists, badRequest, conflict, expired, invalid, notFound } from './errors.js';
import { recordUpdate } from './apply.js';
import { clone } from './patch.js';
import { fieldSelector, labelSelector, type Selector } from './selectors.js';
import { BUILTINS, crdStatus, typeKey, typesOfCrd, type ResourceType } from './types.js';

export type Obj = Record<string, any>;
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  type: EventType;
  object: Obj;
  rv: number;
  key: string;
  /** The object before a MODIFIED: a watch with a selector needs it (see `asSeenBy`). */
  previous?: Obj;
}

/**
 * An event as a watch with a selector sees it, as kube's watch cache sends it: an object
 * that starts to match is ADDED, one that stops matching is DELETED, one that matches
 * neither before nor after is not sent.
 */
function asSeenBy(e: WatchEvent, match: Selector): WatchEvent | undefined {
  const now = match(e.object);
  if (e.type !== 'MODIFIED') return now ? e : undefined;
  const was = e.previous !== undefined && match(e.previous);
  if (was && now) return e;
  if (was) return { ...e, type: 'DELETED' };
  return now ? { ...e, type: 'ADDED' } : undefined;
}

export interface WriteOptions {
  fieldManager: string;
  /** Strict | Warn | Ignore (kube's default is Warn). */
  fieldValidation?: string;
  dryRun?: boolean;
  subresource?: 'status';
  /** managedFields were already computed (server-side apply): keep them. */
  applied?: boolean;
}

export interface WriteResult {
  object: Obj;
  warnings: string[];
}

export interface Selectors {
  labelSelector?: string | null;
  fieldSelector?: string | null;
}

interface Watcher {
  key: string;
  namespace?: string;
  match: Selector;
  send: (e: WatchEvent) => void;
}

export const nowSeconds = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const target = (t: ResourceType, name?: string) => ({ group: t.group, plural: t.plural, name });

export class Store {
  revision = 0;
  /** Events up to this revision are forgotten: watching from before it is 410 Gone. */
  compacted = 0;
  private history: WatchEvent[] = [];
  private readonly objects = new Map<string, Map<string, Obj>>();
  private readonly types = new Map<string, ResourceType>();
  private readonly watchers = new Set<Watcher>();

  constructor(readonly maxHistory = 1000) {
    for (const t of BUILTINS) this.types.set(typeKey(t), t);
    for (const ns of ['default', 'kube-system', 'kube-public']) {
      this.create(this.type('', 'v1', 'namespaces')!, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, { fieldManager: 'kube-apiserver' });
    }
  }

  type(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.get(typeKey({ group, version, plural }));
  }

  allTypes(): ResourceType[] {
    return [...this.types.values()];
  }

  private bucket(t: ResourceType): Map<string, Obj> {
    const key = typeKey(t);
    let m = this.objects.get(key);
    if (!m) this.objects.set(key, (m = new Map()));
    return m;
  }

  get(t: ResourceType, ns: string | undefined, name: string): Obj {
    const obj = this.bucket(t).get(`${ns ?? ''}/${name}`);
    if (!obj) throw notFound(target(t, name));
    return clone(obj);
  }

  list(t: ResourceType, ns: string | undefined, sel: Selectors = {}): { items: Obj[]; resourceVersion: string } {
    const match = this.matcher(sel, t);
    const items = [...this.bucket(t).values()]
      .filter((o) => (ns === undefined || o.metadata.namespace === ns) && match(o))
      .sort((a, b) => `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name}`));
    return { items: clone(items), resourceVersion: String(this.revision) };
  }

  private matcher(sel: Selectors, t?: ResourceType): Selector {
    const labels = labelSelector(sel.labelSelector ?? null);
    // Events take selectors on any field (kubectl describe asks for involvedObject.*).
    const fields = fieldSelector(sel.fieldSelector ?? null, t?.plural === 'events', t?.selectable ?? []);
    return (o) => labels(o) && fields(o);
  }

  create(t: ResourceType, ns: string | undefined, body: Obj, opts: WriteOptions): WriteResult {
    const obj = clone(body);
    if (obj?.metadata && !obj.metadata.name && obj.metadata.generateName) {
      obj.metadata.name = obj.metadata.generateName + randomUUID().replace(/-/g, '').slice(0, 5);
    }
    if (!obj?.metadata?.name) throw invalid(t.kind, t.group, '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
    const warnings = admit(t, ns, obj, opts);
    if (t.namespaced && !this.bucket(this.type('', 'v1', 'namespaces')!).has(`/${ns}`)) {
      throw new ApiError(404, 'NotFound', `namespaces ${JSON.stringify(ns)} not found`, { name: ns, kind: 'namespaces' });
    }
    const key = `${ns ?? ''}/${obj.metadata.name}`;
    if (this.bucket(t).has(key)) throw alreadyExists(target(t, obj.metadata.name));
    const meta = obj.metadata;
    for (const f of ['uid', 'resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'selfLink']) delete meta[f];
    meta.uid = randomUUID();
    meta.creationTimestamp = nowSeconds();
    if (t.generation) meta.generation = 1;
    if (t.status && t.plural !== 'namespaces') delete obj.status;
    if (t.plural === 'namespaces') {
      obj.spec = { finalizers: ['kubernetes'] };
      obj.status = { phase: 'Active' };
    }
    if (t.plural === 'customresourcedefinitions') obj.status = crdStatus(obj, meta.creationTimestamp);
    if (!opts.applied) {
      delete meta.managedFields;
      recordUpdate(undefined, obj, opts.fieldManager);
    }
    if (opts.dryRun) return { object: obj, warnings };
    this.commit(t, 'ADDED', obj);
    if (t.plural === 'customresourcedefinitions') this.register(obj);
    return { object: clone(obj), warnings };
  }

  /**
   * Writes `body` over the current object (PUT, or the result of a patch). For the main
   * resource status is kept; for the status subresource only status is taken.
   */
  update(t: ResourceType, ns: string | undefined, name: string, body: Obj, opts: WriteOptions & { requireVersion?: boolean }): WriteResult {
    const current = this.get(t, ns, name);
    const incoming = clone(body);
    if (incoming?.metadata?.name !== undefined && incoming.metadata.name !== name) {
      throw badRequest(`the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`);
    }
    const rv = incoming?.metadata?.resourceVersion;
    if (rv === undefined || rv === '') {
      if (opts.requireVersion && t.crd) {
        throw invalid(t.kind, t.group, name, [{ reason: 'FieldValueInvalid', field: 'metadata.resourceVersion', message: 'Invalid value: 0x0: must be specified for an update' }]);
      }
    } else if (rv !== current.metadata.resourceVersion) {
      throw conflict(target(t, name));
    }
    if (incoming?.metadata?.uid !== undefined && incoming.metadata.uid !== current.metadata.uid) {
      throw conflict(target(t, name), `Precondition failed: UID in precondition: ${incoming.metadata.uid}, UID in object meta: ${current.metadata.uid}`);
    }
    let next: Obj;
    if (opts.subresource === 'status') {
      next = { ...clone(current), status: incoming.status };
      if (incoming.status === undefined) delete next.status;
    } else {
      next = incoming;
      if (t.status) {
        if (current.status === undefined) delete next.status;
        else next.status = current.status;
      }
    }
    const warnings = admit(t, ns, next, opts);
    const meta = next.metadata;
    for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) {
      if (current.metadata[f] === undefined) delete meta[f];
      else meta[f] = current.metadata[f];
    }
    if (!opts.applied) meta.managedFields = current.metadata.managedFields;
    if (opts.subresource === 'status') {
      for (const f of ['labels', 'annotations', 'finalizers', 'ownerReferences']) {
        if (current.metadata[f] === undefined) delete meta[f];
        else meta[f] = current.metadata[f];
      }
    }
    if (current.metadata.deletionTimestamp) {
      const added = (meta.finalizers ?? []).filter((f: string) => !(current.metadata.finalizers ?? []).includes(f));
      if (added.length > 0) {
        throw invalid(t.kind, t.group, name, [{ reason: 'FieldValueForbidden', field: 'metadata.finalizers', message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f: string) => JSON.stringify(f)).join(', ')}}` }]);
      }
    }
    if (t.generation && !sameExcept(current, next, ['metadata', 'status'])) meta.generation = (current.metadata.generation ?? 0) + 1;
    if (t.plural === 'customresourcedefinitions') next.status = crdStatus(next, nowSeconds());
    if (!opts.applied) recordUpdate(current, next, opts.fieldManager, opts.subresource);
    meta.resourceVersion = current.metadata.resourceVersion;
    if (sameExcept(current, next, []) || opts.dryRun) return { object: next, warnings }; // a no-op write is not a write
    if (meta.deletionTimestamp && (meta.finalizers ?? []).length === 0) {
      this.remove(t, next);
      return { object: clone(next), warnings };
    }
    this.commit(t, 'MODIFIED', next);
    if (t.plural === 'customresourcedefinitions') this.register(next);
    return { object: clone(next), warnings };
  }

  /** DELETE: with finalizers only marks the object (deletionTimestamp); else removes it. */
  delete(t: ResourceType, ns: string | undefined, name: string, options: Obj = {}, dryRun = false): { object: Obj; deleted: boolean } {
    const current = this.get(t, ns, name);
    const pre = options.preconditions ?? {};
    if (pre.uid !== undefined && pre.uid !== current.metadata.uid) {
      throw conflict(target(t, name), `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`);
    }
    if (pre.resourceVersion !== undefined && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(target(t, name), `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`);
    }
    if (dryRun) return { object: current, deleted: (current.metadata.finalizers ?? []).length === 0 };
    if ((current.metadata.finalizers ?? []).length > 0) {
      if (!current.metadata.deletionTimestamp) {
        current.metadata.deletionTimestamp = nowSeconds();
        current.metadata.deletionGracePeriodSeconds = 0;
        this.commit(t, 'MODIFIED', current);
      }
      return { object: clone(current), deleted: false };
    }
    this.remove(t, current);
    return { object: clone(current), deleted: true };
  }

  private remove(t: ResourceType, obj: Obj): void {
    this.commit(t, 'DELETED', obj);
    if (t.plural === 'customresourcedefinitions') this.unregister(obj);
  }

  private register(crd: Obj): void {
    this.unregister(crd, false);
    for (const t of typesOfCrd(crd)) this.types.set(typeKey(t), t);
  }

  /** A deleted CRD takes its resources with it (kube's customresourcecleanup finalizer). */
  private unregister(crd: Obj, dropObjects = true): void {
    for (const [key, t] of [...this.types]) {
      if (t.crd !== crd.metadata.name) continue;
      if (dropObjects) for (const obj of [...this.bucket(t).values()]) this.commit(t, 'DELETED', clone(obj));
      this.types.delete(key);
    }
  }

  private commit(t: ResourceType, type: EventType, obj: Obj): void {
    const key = typeKey(t);
    const rv = ++this.revision;
    obj.metadata.resourceVersion = String(rv);
    const id = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    const previous = this.bucket(t).get(id);
    if (type === 'DELETED') this.bucket(t).delete(id);
    else this.bucket(t).set(id, clone(obj));
    const event: WatchEvent = { type, object: clone(obj), rv, key };
    if (type === 'MODIFIED' && previous) event.previous = clone(previous);
    this.history.push(event);
    if (this.history.length > this.maxHistory) this.compacted = this.history.shift()!.rv;
    for (const w of this.watchers) {
      if (w.key !== key || (w.namespace !== undefined && w.namespace !== obj.metadata.namespace)) continue;
      const seen = asSeenBy(event, w.match);
      if (seen) w.send(seen);
    }
  }

  /** Forgets all history: every resourceVersion seen so far becomes too old to watch from. */
  compact(): void {
    this.compacted = this.revision;
    this.history = [];
  }

  /**
   * Starts a watch: from `rv` (events after it), or, with no rv or "0", from the current
   * state as ADDED events. Throws 410 Expired for a version older than the history and
   * 504 for one newer than the store.
   */
  watch(t: ResourceType, ns: string | undefined, rv: string | undefined, sel: Selectors, send: (e: WatchEvent) => void): () => void {
    const match = this.matcher(sel, t);
    const key = typeKey(t);
    const backlog: WatchEvent[] = [];
    if (rv === undefined || rv === '' || rv === '0') {
      for (const object of this.list(t, ns, sel).items) backlog.push({ type: 'ADDED', object, rv: Number(object.metadata.resourceVersion), key });
    } else {
      const from = Number(rv);
      if (!Number.isInteger(from) || from < 0) throw badRequest(`invalid resource version: ${rv}`);
      if (from < this.compacted) throw expired(from, this.compacted + 1);
      if (from > this.revision) {
        throw new ApiError(504, 'Timeout', `Too large resource version: ${from}, current: ${this.revision}`, {
          causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
          retryAfterSeconds: 1,
        });
      }
      for (const e of this.history) {
        if (e.rv <= from || e.key !== key || (ns !== undefined && e.object.metadata.namespace !== ns)) continue;
        const seen = asSeenBy(e, match);
        if (seen) backlog.push(seen);
      }
    }
    const watcher: Watcher = { key, namespace: ns, match, send };
    for (const e of backlog) send(e);
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }
}

/** Deep equality of two objects, leaving out the given top-level fields and metadata.resourceVersion/managedFields. */
function sameExcept(a: Obj, b: Obj, skip: string[]): boolean {
  const strip = (o: Obj) => {
    const c = clone(o);
    for (const s of skip) delete c[s];
    if (c.metadata) {
      delete c.metadata.resourceVersion;
      delete c.metadata.managedFields;
    }
    return canonical(c);
  };
  return strip(a) === strip(b);
}

function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Obj;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
}
