// The Kubernetes source and its publisher against the test API server, with a fake
// controller view (no containerd): snapshots of this node's resources only, status written
// once per change, the finalizer held until the container is gone, and an API server that
// goes away.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { ReconcileEvent } from '../../src/reconcile/controller.js';
import type { StatusRow } from '../../src/reconcile/status.js';
import { createKubeClient } from '../../src/sources/kube/client.js';
import { generateCrd } from '../../src/sources/kube/crd.js';
import { createKubeSource, type KubeSource } from '../../src/sources/kube/source.js';
import { createKubePublisher, type KubePublisher } from '../../src/publish/kube/publisher.js';
import type { ControllerView } from '../../src/publish/kube/view.js';
import type { Snapshot } from '../../src/spec/types.js';
import { TestApiServer } from '../kube/server.js';
import type { ResourceType } from '../kube/types.js';
import { waitFor } from '../harness/wait.js';

const ctr = (name: string, nodeName: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'converge.dev/v1alpha1',
  kind: 'Container',
  metadata: { name, namespace: 'default' },
  spec: { image: 'busybox', nodeName, ...spec },
});

const row = (name: string, over: Partial<StatusRow> = {}): StatusRow =>
  ({ name, namespace: 'default', id: `default.${name}`, phase: 'Running', restarts: 0, exitCode: null, message: '', pid: 7, image: 'busybox', source: `kube:default/${name}`, createdAt: null, startedAt: null, ...over }) as StatusRow;

describe('kubernetes source and publisher (test API server, fake controller)', () => {
  let api: TestApiServer;
  let type: ResourceType;
  let source: KubeSource;
  let publisher: KubePublisher;
  let dir: string;
  const snapshots: Snapshot[] = [];
  const rows = new Map<string, StatusRow>();
  const listeners = new Set<(e: ReconcileEvent) => void>();
  const last = () => snapshots[snapshots.length - 1];
  const view: ControllerView = {
    status: () => [...rows.values()],
    ready: () => true,
    holder: (key) => last()?.specs.find((s) => s.key === key)?.origin,
    gone: async (key) => !rows.has(key),
    onReconcile: (l) => (listeners.add(l), () => listeners.delete(l)),
  };
  const reconciled = (key: string, action?: ReconcileEvent['action']) => {
    for (const l of listeners) l({ key, action });
  };
  const statusPuts = (name: string) => api.requests.filter((r) => r.method === 'PUT' && r.path.endsWith(`/${name}/status`));

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'converge-kube-unit-'));
    api = await TestApiServer.start({ bookmarkMs: 100 });
    api.store.create(api.store.type('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!, undefined, generateCrd() as any, { fieldManager: 't' });
    type = api.store.type('converge.dev', 'v1alpha1', 'containers')!;
    api.store.create(type, 'default', ctr('mine', 'node-1'), { fieldManager: 't' });
    api.store.create(type, 'default', ctr('theirs', 'node-2'), { fieldManager: 't' });
    const client = createKubeClient({ kubeconfig: api.writeKubeconfig(path.join(dir, 'kubeconfig')) });
    const log = pino({ level: 'silent' });
    const backoff = { initialMs: 20, maxMs: 100 };
    source = createKubeSource({ client, log, nodeName: 'node-1', backoff });
    publisher = createKubePublisher({ client, resources: source, view, log, nodeName: 'node-1', backoff, statusIntervalMs: 60_000 });
    await source.start((s) => snapshots.push(s));
  });

  after(async () => {
    await publisher?.stop();
    await source?.stop();
    await api?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('snapshots hold this node\'s resources only, complete once listed', () => {
    assert.equal(last().complete, true);
    assert.deepEqual(last().specs.map((s) => [s.key, s.origin]), [['default/mine', 'kube:default/mine']]);
  });

  it('adds the finalizer and writes the status once; an unchanged status is not written again', async () => {
    rows.set('default/mine', row('mine'));
    reconciled('default/mine', 'create');
    const obj = await waitFor(() => {
      const o = api.store.get(type, 'default', 'mine');
      return o.status?.phase === 'Running' ? o : undefined;
    }, { what: 'status Running' });
    assert.deepEqual(obj.metadata.finalizers, ['converge.dev/cleanup']);
    assert.equal(obj.status.pid, 7);
    await waitFor(() => publisher.writer.idle(), { what: 'writer idle' });
    const writes = statusPuts('mine').length;
    for (let i = 0; i < 5; i++) reconciled('default/mine');
    await waitFor(() => publisher.writer.idle(), { what: 'writer idle' });
    assert.equal(statusPuts('mine').length, writes);
    assert.equal(api.store.get(type, 'default', 'theirs').status, undefined);
  });

  it('an API server that goes away leaves the specs in place (complete: false), and is listed again when back', async () => {
    const before = snapshots.length;
    await api.down();
    await waitFor(() => snapshots.slice(before).some((s) => !s.complete), { what: 'an incomplete snapshot' });
    const down = snapshots.slice(before).find((s) => !s.complete)!;
    assert.deepEqual(down.specs.map((s) => s.key), ['default/mine']);
    assert.match(down.problems[0].message, /cannot read Container resources/);
    api.store.create(type, 'default', ctr('new', 'node-1'), { fieldManager: 't' });
    await api.up();
    await waitFor(() => last().complete && last().specs.length === 2, { what: 'the new resource after the relist' });
    assert.ok(source.informer.stats.relistsAfterGone >= 1);
  });

  it('records Events: Normal for what it did, Warning for a failure (not again for the same message)', async () => {
    const fail = { code: 'ImageNotFound', message: 'docker.io/library/nope:1 not found' };
    for (let i = 0; i < 2; i++) for (const l of listeners) l({ key: 'default/new', error: fail });
    reconciled('default/new', 'restart');
    await publisher.events.flush();
    const events = api.store.list(api.store.type('', 'v1', 'events')!, 'default').items;
    const about = (name: string) => events.filter((e) => e.involvedObject.name === name).map((e) => `${e.type}/${e.reason}`);
    assert.deepEqual(about('mine'), ['Normal/Created']);
    assert.deepEqual(about('new').sort(), ['Normal/Restarted', 'Warning/Failed']);
    assert.equal(events.find((e) => e.reason === 'Failed')!.message, 'ImageNotFound: docker.io/library/nope:1 not found');
    assert.equal(events.find((e) => e.reason === 'Failed')!.involvedObject.kind, 'Container');
  });

  it('a deleted resource leaves the desired set; its finalizer goes only once the container is gone', async () => {
    api.store.delete(type, 'default', 'mine');
    await waitFor(() => !last().specs.some((s) => s.key === 'default/mine'), { what: 'mine out of the desired set' });
    await waitFor(() => api.store.get(type, 'default', 'mine').status?.phase === 'Removing', { what: 'status Removing' });
    assert.ok(api.store.get(type, 'default', 'mine').metadata.finalizers.includes('converge.dev/cleanup'), 'held while the container exists');
    rows.delete('default/mine');
    reconciled('default/mine', 'remove');
    await waitFor(() => {
      try {
        api.store.get(type, 'default', 'mine');
        return false;
      } catch {
        return true;
      }
    }, { what: 'the resource to go' });
  });
});
