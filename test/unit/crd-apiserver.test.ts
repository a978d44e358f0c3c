// The test API server's storage semantics (test/kube/store.ts), checked against what a real
// kube-apiserver does with a custom resource, so the integration tests stand on solid ground.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateCrd } from '../../src/sources/kube/crd.js';
import { ApiError } from '../kube/errors.js';
import { ApplyConflictError, serverSideApply } from '../kube/apply.js';
import { jsonPatch, mergePatch } from '../kube/patch.js';
import { Store, type WatchEvent } from '../kube/store.js';
import type { ResourceType } from '../kube/types.js';

const OPTS = { fieldManager: 'test' };

function setup(): { store: Store; t: ResourceType } {
  const store = new Store(50);
  store.create(store.type('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!, undefined, generateCrd() as any, OPTS);
  return { store, t: store.type('converge.dev', 'v1alpha1', 'containers')! };
}

const ctr = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'converge.dev/v1alpha1',
  kind: 'Container',
  metadata: { name },
  spec: { image: 'busybox', ...spec },
});

function fails(fn: () => unknown, code: number, reason: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.reason, reason);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('test API server: objects', () => {
  it('create sets uid, creationTimestamp, generation 1 and a resourceVersion; a second create is AlreadyExists', () => {
    const { store, t } = setup();
    const { object } = store.create(t, 'default', ctr('web'), OPTS);
    assert.match(object.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.equal(object.metadata.generation, 1);
    assert.equal(object.metadata.namespace, 'default');
    assert.ok(Number(object.metadata.resourceVersion) > 0);
    fails(() => store.create(t, 'default', ctr('web'), OPTS), 409, 'AlreadyExists', /containers\.converge\.dev "web" already exists/);
    fails(() => store.create(t, 'nowhere', ctr('x'), OPTS), 404, 'NotFound', /namespaces "nowhere" not found/);
  });

  it('validates against the CRD schema (422) and prunes unknown fields (400 with fieldValidation=Strict)', () => {
    const { store, t } = setup();
    fails(() => store.create(t, 'default', ctr('a', { restartPolicy: 'Sometimes' }), OPTS), 422, 'Invalid',
      /Container\.converge\.dev "a" is invalid: spec\.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"/);
    fails(() => store.create(t, 'default', ctr('b', { bogus: 1 }), { ...OPTS, fieldValidation: 'Strict' }), 400, 'BadRequest', /unknown field "spec\.bogus"/);
    const warned = store.create(t, 'default', ctr('c', { bogus: 1 }), OPTS);
    assert.deepEqual(warned.warnings, ['unknown field "spec.bogus"']);
    assert.equal(warned.object.spec.bogus, undefined);
  });

  it('update needs the current resourceVersion: missing is 422, stale is 409; only spec changes bump generation', () => {
    const { store, t } = setup();
    const v1 = store.create(t, 'default', ctr('web'), OPTS).object;
    const noRv = structuredClone(v1);
    delete noRv.metadata.resourceVersion;
    fails(() => store.update(t, 'default', 'web', noRv, { ...OPTS, requireVersion: true }), 422, 'Invalid', /must be specified for an update/);
    const labelled = store.update(t, 'default', 'web', { ...v1, metadata: { ...v1.metadata, labels: { a: 'b' } } }, OPTS).object;
    assert.equal(labelled.metadata.generation, 1, 'metadata is not spec');
    fails(() => store.update(t, 'default', 'web', v1, OPTS), 409, 'Conflict', /the object has been modified/);
    const v3 = store.update(t, 'default', 'web', { ...labelled, spec: { image: 'other' } }, OPTS).object;
    assert.equal(v3.metadata.generation, 2);
    assert.equal(v3.metadata.uid, v1.metadata.uid);
  });

  it('status: the main resource ignores it, the subresource changes only it', () => {
    const { store, t } = setup();
    const v1 = store.create(t, 'default', { ...ctr('web'), status: { phase: 'Made up' } }, OPTS).object;
    assert.equal(v1.status, undefined, 'status is dropped on create');
    const s = store.update(t, 'default', 'web', { ...v1, spec: { image: 'changed' }, status: { phase: 'Running' } }, { ...OPTS, subresource: 'status' }).object;
    assert.equal(s.status.phase, 'Running');
    assert.equal(s.spec.image, 'busybox', 'spec untouched by a status write');
    assert.equal(s.metadata.generation, 1);
    const m = store.update(t, 'default', 'web', { ...s, status: { phase: 'Nope' } }, OPTS).object;
    assert.equal(m.status.phase, 'Running', 'status untouched by a main-resource write');
    fails(() => store.update(t, 'default', 'web', { ...m, status: { phase: 1 } }, { ...OPTS, subresource: 'status' }), 422, 'Invalid', /status\.phase/);
  });

  it('a no-op write is not a write', () => {
    const { store, t } = setup();
    const v1 = store.create(t, 'default', ctr('web'), OPTS).object;
    const same = store.update(t, 'default', 'web', v1, OPTS).object;
    assert.equal(same.metadata.resourceVersion, v1.metadata.resourceVersion);
  });

  it('finalizers hold a delete: deletionTimestamp first, the object goes when the last finalizer does', () => {
    const { store, t } = setup();
    const v1 = store.create(t, 'default', { ...ctr('web'), metadata: { name: 'web', finalizers: ['converge.dev/cleanup'] } }, OPTS).object;
    const marked = store.delete(t, 'default', 'web');
    assert.equal(marked.deleted, false);
    assert.ok(marked.object.metadata.deletionTimestamp);
    fails(() => store.update(t, 'default', 'web', { ...marked.object, metadata: { ...marked.object.metadata, finalizers: ['converge.dev/cleanup', 'other'] } }, OPTS),
      422, 'Invalid', /no new finalizers can be added if the object is being deleted/);
    const patched = mergePatch(store.get(t, 'default', 'web'), { metadata: { finalizers: [] } }) as any;
    store.update(t, 'default', 'web', patched, OPTS);
    fails(() => store.get(t, 'default', 'web'), 404, 'NotFound');
    fails(() => store.delete(t, 'default', 'web', { preconditions: { uid: v1.metadata.uid } }), 404, 'NotFound');
  });

  it('delete preconditions: a different uid is a 409', () => {
    const { store, t } = setup();
    store.create(t, 'default', ctr('web'), OPTS);
    fails(() => store.delete(t, 'default', 'web', { preconditions: { uid: 'not-it' } }), 409, 'Conflict', /Precondition failed: UID in precondition: not-it/);
  });
});

describe('test API server: watch', () => {
  it('from a resourceVersion: the events after it, then live ones; from none: the current state as ADDED', () => {
    const { store, t } = setup();
    const a = store.create(t, 'default', ctr('a'), OPTS).object;
    store.create(t, 'default', ctr('b'), OPTS);
    const seen: WatchEvent[] = [];
    const stop = store.watch(t, undefined, a.metadata.resourceVersion, {}, (e) => seen.push(e));
    store.delete(t, 'default', 'a');
    stop();
    store.create(t, 'default', ctr('c'), OPTS);
    assert.deepEqual(seen.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED b', 'DELETED a']);
    const initial: WatchEvent[] = [];
    store.watch(t, 'default', '0', {}, (e) => initial.push(e))();
    assert.deepEqual(initial.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED b', 'ADDED c']);
  });

  it('a resourceVersion older than the history is 410 Expired; newer than the store is a 504', () => {
    const { store, t } = setup();
    const old = store.create(t, 'default', ctr('a'), OPTS).object.metadata.resourceVersion;
    for (let i = 0; i < 60; i++) store.update(t, 'default', 'a', { ...store.get(t, 'default', 'a'), spec: { image: `i${i}` } }, OPTS);
    fails(() => store.watch(t, undefined, old, {}, () => {}), 410, 'Expired', /too old resource version/);
    fails(() => store.watch(t, undefined, String(store.revision + 10), {}, () => {}), 504, 'Timeout', /Too large resource version/);
    store.compact();
    fails(() => store.watch(t, undefined, String(store.revision - 1), {}, () => {}), 410, 'Expired');
    store.watch(t, undefined, String(store.revision), {}, () => {})();
  });

  it('field and label selectors', () => {
    const { store, t } = setup();
    store.create(t, 'default', { ...ctr('a'), metadata: { name: 'a', labels: { app: 'x' } } }, OPTS);
    store.create(t, 'default', ctr('b'), OPTS);
    assert.deepEqual(store.list(t, 'default', { fieldSelector: 'metadata.name=b' }).items.map((o) => o.metadata.name), ['b']);
    assert.deepEqual(store.list(t, 'default', { labelSelector: 'app in (x,y)' }).items.map((o) => o.metadata.name), ['a']);
    assert.deepEqual(store.list(t, 'default', { labelSelector: '!app' }).items.map((o) => o.metadata.name), ['b']);
    fails(() => store.list(t, 'default', { fieldSelector: 'spec.image=x' }), 400, 'BadRequest', /field label not supported/);
  });

  it("the CRD's selectableFields: spec.nodeName selects, and a watch sees an object leave and join the selection", () => {
    const { store, t } = setup();
    const here = store.create(t, 'default', ctr('a', { nodeName: 'n1' }), OPTS).object;
    store.create(t, 'default', ctr('b', { nodeName: 'n2' }), OPTS);
    assert.deepEqual(store.list(t, 'default', { fieldSelector: 'spec.nodeName=n1' }).items.map((o) => o.metadata.name), ['a']);
    const seen: string[] = [];
    const stop = store.watch(t, undefined, store.list(t, undefined).resourceVersion, { fieldSelector: 'spec.nodeName=n1' }, (e) => seen.push(`${e.type} ${e.object.metadata.name}`));
    const moved = store.update(t, 'default', 'a', { ...here, spec: { ...here.spec, nodeName: 'n2' } }, OPTS).object;
    store.update(t, 'default', 'a', { ...moved, spec: { ...moved.spec, image: 'other' } }, OPTS);
    const b = store.list(t, 'default', { fieldSelector: 'metadata.name=b' }).items[0];
    store.update(t, 'default', 'b', { ...b, spec: { ...b.spec, nodeName: 'n1' } }, OPTS);
    stop();
    assert.deepEqual(seen, ['DELETED a', 'ADDED b'], 'leaving is DELETED, joining ADDED, and nothing of what matches neither');
  });
});

describe('test API server: patches and server-side apply', () => {
  it('JSON merge patch and JSON patch', () => {
    assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: null, e: 4 }, f: [1] }), { a: 1, b: { d: 3, e: 4 }, f: [1] });
    assert.deepEqual(jsonPatch({ a: [1, 2] }, [{ op: 'add', path: '/a/-', value: 3 }, { op: 'replace', path: '/a/0', value: 0 }, { op: 'test', path: '/a/1', value: 2 }]), { a: [0, 2, 3] });
    assert.throws(() => jsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]), /test failed/);
  });

  it('apply: conflicts with another manager\'s value unless forced; removes what the manager no longer applies', () => {
    const cfg = (spec: Record<string, unknown>) => ({ apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name: 'web' }, spec });
    const first = serverSideApply(undefined, cfg({ image: 'a', hostname: 'h' }), 'alice', false);
    assert.deepEqual(first.metadata.managedFields.map((m: any) => [m.manager, m.operation]), [['alice', 'Apply']]);
    assert.throws(() => serverSideApply(first, cfg({ image: 'b' }), 'bob', false), (err: unknown) => err instanceof ApplyConflictError && /conflict with "alice"/.test(err.message));
    const sameValue = serverSideApply(first, cfg({ image: 'a' }), 'bob', false);
    assert.equal(sameValue.spec.image, 'a', 'applying the same value is no conflict');
    const forced = serverSideApply(first, cfg({ image: 'b' }), 'bob', true);
    assert.equal(forced.spec.image, 'b');
    const dropped = serverSideApply(forced, cfg({}), 'alice', false);
    assert.equal(dropped.spec.hostname, undefined, 'alice no longer applies hostname: removed');
    assert.equal(dropped.spec.image, 'b', 'bob owns image now: kept');
  });
});
