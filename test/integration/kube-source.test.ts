// The Kubernetes source and its publisher in-process against a real kube-apiserver
// (test/harness/kube-cluster.ts), as the node agent's ServiceAccount, with a fake controller
// view (no containerd): snapshots of this node's resources only, status written once per
// change, the finalizer held until the container is gone, and an API server that goes away.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { ReconcileEvent } from '../../src/reconcile/controller.js';
import type { StatusRow } from '../../src/reconcile/status.js';
import { createKubeClient } from '../../src/sources/kube/client.js';
import { createKubeSource, type KubeSource } from '../../src/sources/kube/source.js';
import { createKubePublisher, type KubePublisher } from '../../src/publish/kube/publisher.js';
import type { ControllerView } from '../../src/publish/kube/view.js';
import type { Snapshot } from '../../src/spec/types.js';
import { KubeCluster } from '../harness/kube-cluster.js';
import type { Kubectl } from '../harness/kube-tools.js';
import { waitFor } from '../harness/wait.js';
import { SA_USER, applyManifests, nodeAgent } from './kube-util.js';

const ctr = (name: string, nodeName: string, spec: Record<string, unknown> = {}) =>
  JSON.stringify({ apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name, namespace: 'default' }, spec: { image: 'busybox', nodeName, ...spec } });

const row = (name: string, over: Partial<StatusRow> = {}): StatusRow =>
  ({ name, namespace: 'default', id: `default.${name}`, phase: 'Running', restarts: 0, exitCode: null, message: '', pid: 7, image: 'busybox', source: `kube:default/${name}`, createdAt: null, startedAt: null, ...over }) as StatusRow;

describe('kubernetes source and publisher (real API server, fake controller)', () => {
  let cluster: KubeCluster;
  let admin: Kubectl;
  let source: KubeSource;
  let publisher: KubePublisher;
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
  const statusPuts = (name: string) =>
    cluster.audit().filter((e) => e.user.username === SA_USER && e.verb === 'update' && e.objectRef?.subresource === 'status' && e.objectRef.name === name && e.stage === 'ResponseComplete');
  const get = (name: string) => admin.json('ctr', name);

  before(async () => {
    cluster = await KubeCluster.start();
    admin = cluster.admin;
    await applyManifests(cluster);
    await admin.ok(['apply', '-f', '-'], { input: ctr('mine', 'node-1') });
    await admin.ok(['apply', '-f', '-'], { input: ctr('theirs', 'node-2') });
    const client = createKubeClient({ kubeconfig: (await nodeAgent(cluster, 'node-1')).kubeconfig });
    const log = pino({ level: 'silent' });
    const backoff = { initialMs: 20, maxMs: 100 };
    source = createKubeSource({ client, log, nodeName: 'node-1', backoff });
    publisher = createKubePublisher({ client, resources: source, view, log, nodeName: 'node-1', backoff, statusIntervalMs: 60_000 });
    await source.start((s) => snapshots.push(s));
  });

  after(async () => {
    await publisher?.stop();
    await source?.stop();
    await cluster?.cleanup();
  });

  it('snapshots hold this node\'s resources only, complete once listed', () => {
    assert.equal(last().complete, true);
    assert.deepEqual(last().specs.map((s) => [s.key, s.origin]), [['default/mine', 'kube:default/mine']]);
  });

  it('adds the finalizer and writes the status once; an unchanged status is not written again', async () => {
    rows.set('default/mine', row('mine'));
    reconciled('default/mine', 'create');
    const obj = await waitFor(async () => {
      const o = await get('mine');
      return o.status?.phase === 'Running' ? o : undefined;
    }, { what: 'status Running' });
    assert.deepEqual(obj.metadata.finalizers, ['converge.dev/cleanup']);
    assert.equal(obj.status.pid, 7);
    await waitFor(() => publisher.writer.idle(), { what: 'writer idle' });
    const writes = statusPuts('mine').length;
    for (let i = 0; i < 5; i++) reconciled('default/mine');
    await waitFor(() => publisher.writer.idle(), { what: 'writer idle' });
    assert.equal(statusPuts('mine').length, writes);
    assert.equal((await get('theirs')).status, undefined);
  });

  it('an API server that goes away leaves the specs in place (complete: false), and is listed again when back', async () => {
    const before = snapshots.length;
    await cluster.stopApiserver();
    await waitFor(() => snapshots.slice(before).some((s) => !s.complete), { what: 'an incomplete snapshot' });
    const down = snapshots.slice(before).find((s) => !s.complete)!;
    assert.deepEqual(down.specs.map((s) => s.key), ['default/mine']);
    assert.match(down.problems[0].message, /cannot read Container resources/);
    await cluster.startApiserver();
    await admin.ok(['apply', '-f', '-'], { input: ctr('new', 'node-1') });
    await waitFor(() => last().complete && last().specs.length === 2, { what: 'the new resource once it is back', timeoutMs: 60_000 });
  });

  it('records Events: Normal for what it did, Warning for a failure (not again for the same message)', async () => {
    const fail = { code: 'ImageNotFound', message: 'docker.io/library/nope:1 not found' };
    for (let i = 0; i < 2; i++) for (const l of listeners) l({ key: 'default/new', error: fail });
    reconciled('default/new', 'restart');
    await publisher.events.flush();
    const events = JSON.parse(await admin.ok(['get', 'events', '-o', 'json'])).items as any[];
    const about = (name: string) => events.filter((e) => e.involvedObject.name === name).map((e) => `${e.type}/${e.reason}`);
    assert.deepEqual(about('mine'), ['Normal/Created']);
    assert.deepEqual(about('new').sort(), ['Normal/Restarted', 'Warning/Failed']);
    assert.equal(events.find((e) => e.reason === 'Failed')!.message, 'ImageNotFound: docker.io/library/nope:1 not found');
    assert.equal(events.find((e) => e.reason === 'Failed')!.involvedObject.kind, 'Container');
  });

  it('a deleted resource leaves the desired set; its finalizer goes only once the container is gone', async () => {
    await admin.ok(['delete', 'ctr', 'mine', '--wait=false']);
    await waitFor(() => !last().specs.some((s) => s.key === 'default/mine'), { what: 'mine out of the desired set' });
    await waitFor(async () => (await get('mine')).status?.phase === 'Removing', { what: 'status Removing' });
    assert.ok((await get('mine')).metadata.finalizers.includes('converge.dev/cleanup'), 'held while the container exists');
    rows.delete('default/mine');
    reconciled('default/mine', 'remove');
    await waitFor(async () => (await get('mine')) === undefined, { what: 'the resource to go' });
  });

  it('the last resource moved to another node: an empty read that is an answer, not held', async () => {
    await admin.ok(['patch', 'ctr', 'new', '--type=merge', '-p', '{"spec":{"nodeName":"node-2"}}']);
    await waitFor(() => last().specs.length === 0, { what: 'new out of the desired set' });
    assert.equal(last().complete, true);
    assert.equal(last().empty, false, 'this run read resources of this node: none left is the answer');
  });
});
