// The Kubernetes publisher on a stepped clock, with a fake API client, fake resources (what
// the source read) and a fake controller view: a reconcile writes status and an Event, a
// failed write is retried after the back-off and not before, and the status ticker is the
// safety net for a change no reconcile reported.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { FakeClock } from '../../src/clock.js';
import type { ReconcileEvent } from '../../src/reconcile/controller.js';
import type { StatusRow } from '../../src/reconcile/status.js';
import { KubeApiError, type KubeClient } from '../../src/sources/kube/client.js';
import type { KubeObject } from '../../src/sources/kube/convert.js';
import type { KubeResources } from '../../src/sources/kube/source.js';
import { createKubePublisher, resourcePath } from '../../src/publish/kube/publisher.js';
import type { ControllerView } from '../../src/publish/kube/view.js';
import { EVENT_MESSAGE_MAX, createEventRecorder } from '../../src/publish/kube/events.js';
import type { HealthState } from '../../src/reconcile/health.js';
import type { HealthChange } from '../../src/reconcile/prober.js';

const KEY = 'default/web';
const PATH = '/apis/converge.dev/v1alpha1/namespaces/default/containers/web';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function fixture() {
  const obj: KubeObject = {
    apiVersion: 'converge.dev/v1alpha1',
    kind: 'Container',
    metadata: { name: 'web', namespace: 'default', uid: 'u1', resourceVersion: '1', generation: 1, finalizers: ['converge.dev/cleanup'] },
    spec: { image: 'busybox', nodeName: 'node-1' },
  };
  const requests: { method: string; path: string; body?: any }[] = [];
  let failPuts = 0;
  const client: KubeClient = {
    server: 'https://kube.invalid',
    async request<T>(method: string, path: string, options: { body?: unknown } = {}): Promise<T> {
      requests.push({ method, path, body: options.body });
      if (method === 'PUT' && failPuts > 0) {
        failPuts--;
        throw new KubeApiError('Unavailable', 'connection reset');
      }
      if (method === 'PUT') return { ...(options.body as object), metadata: { ...obj.metadata, resourceVersion: String(requests.length + 1) } } as T;
      return {} as T;
    },
    watch: () => Promise.reject(new Error('no watch here')),
  };
  const readers = new Set<(keys: string[]) => void>();
  const resources: KubeResources = {
    objectOf: (key) => (key === KEY ? obj : undefined),
    keys: () => [KEY],
    problemsOf: () => [],
    onRead: (l) => (readers.add(l), () => readers.delete(l)),
  };
  const rows: StatusRow[] = [
    { name: 'web', namespace: 'default', id: 'default.web', phase: 'Running', restarts: 0, exitCode: null, message: '', pid: 7, image: 'busybox', source: 'kube:default/web', createdAt: null, startedAt: null } as StatusRow,
  ];
  const listeners = new Set<(e: ReconcileEvent) => void>();
  const view: ControllerView = {
    status: () => rows,
    ready: () => true,
    holder: (key) => (key === KEY ? 'kube:default/web' : undefined),
    gone: async () => false,
    onReconcile: (l) => (listeners.add(l), () => listeners.delete(l)),
  };
  const reconciled = (e: ReconcileEvent) => {
    for (const l of listeners) l(e);
  };
  return { obj, client, requests, resources, rows, view, reconciled, readers, failNextPuts: (n: number) => (failPuts = n) };
}

test('a failed status write is retried after the back-off on the clock, and only then', async () => {
  const clock = new FakeClock();
  const f = fixture();
  const publisher = createKubePublisher({ client: f.client, resources: f.resources, view: f.view, log: pino({ level: 'silent' }), nodeName: 'node-1', backoff: { initialMs: 100, maxMs: 1000 }, statusIntervalMs: 60_000, clock });
  const puts = () => f.requests.filter((r) => r.method === 'PUT');
  f.failNextPuts(2);
  f.reconciled({ key: KEY, action: 'create', pid: 7 });
  await settle();
  assert.equal(puts().length, 1);
  assert.equal(puts()[0].path, `${PATH}/status`);
  await publisher.events.flush();
  const posted = f.requests.filter((r) => r.method === 'POST');
  assert.deepEqual(posted.map((r) => [r.path, r.body.type, r.body.reason]), [['/api/v1/namespaces/default/events', 'Normal', 'Created']]);

  clock.advance(99);
  await settle();
  assert.equal(puts().length, 1, 'no retry before 100 ms');
  clock.advance(1);
  await settle();
  assert.equal(puts().length, 2, 'the first retry after 100 ms');
  clock.advance(199);
  await settle();
  assert.equal(puts().length, 2, 'the second failure waits 200 ms');
  clock.advance(1);
  await settle();
  assert.equal(puts().length, 3);
  assert.equal(puts()[2].body.status.phase, 'Running');
  assert.equal(puts()[2].body.status.pid, 7);
  assert.ok(publisher.writer.idle());
  await publisher.stop();
});

test('the status ticker writes a change no reconcile reported; stop() ends it', async () => {
  const clock = new FakeClock();
  const f = fixture();
  const publisher = createKubePublisher({ client: f.client, resources: f.resources, view: f.view, log: pino({ level: 'silent' }), nodeName: 'node-1', statusIntervalMs: 10_000, clock });
  const puts = () => f.requests.filter((r) => r.method === 'PUT');
  for (const read of f.readers) read([KEY]); // the source read the resource
  await settle();
  assert.equal(puts().length, 1);
  clock.advance(10_000);
  await settle();
  assert.equal(puts().length, 1, 'an unchanged status is not written again');
  f.rows[0] = { ...f.rows[0], pid: 8 };
  clock.advance(10_000);
  await settle();
  assert.equal(puts().length, 2);
  assert.equal(puts()[1].body.status.pid, 8);
  await publisher.stop();
  assert.equal(clock.pending(), 0, 'no ticker after stop');
  assert.equal(f.readers.size, 0, 'no longer follows the source');
  assert.equal(resourcePath(f.obj), PATH);
});

test('an Event message is one bounded line, whatever the error carried', async () => {
  const posted: any[] = [];
  const client: KubeClient = {
    server: 'https://kube.invalid',
    async request<T>(_method: string, _path: string, options: { body?: unknown } = {}): Promise<T> {
      posted.push(options.body);
      return {} as T;
    },
    watch: () => Promise.reject(new Error('no watch here')),
  };
  const events = createEventRecorder({ client, log: pino({ level: 'silent' }), nodeName: 'node-1', clock: new FakeClock() });
  const obj: KubeObject = { apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name: 'web', namespace: 'default', uid: 'u1' }, spec: {} };
  events.record(obj, 'Warning', 'Failed', `RegistryError: ${'evil\r\n\u001b]0;title\u0007'.repeat(1000)}`);
  await events.flush();
  assert.equal(posted.length, 1);
  const message = posted[0].message as string;
  // Cut at the bound, then escaped: a kept character is at most six (\u0007).
  assert.ok(message.length <= EVENT_MESSAGE_MAX * 6 + 1, `bounded (${message.length})`);
  assert.ok(message.endsWith('…'));
  assert.ok(!/[\r\n\u001b\u0007]/.test(message), 'no control characters');
});

test('a denied resource: Degraded=True PolicyDenied on its status, and a Warning Denied Event, once', async () => {
  const clock = new FakeClock();
  const f = fixture();
  const denial = 'spec.network: network: host is not allowed at level baseline (a rule may allow hostNetwork); denied by the default for kube: sources (level baseline)';
  f.rows.length = 0; // never admitted: the controller does not know the key
  f.view.holder = () => undefined;
  f.view.denials = (key) => (key === KEY ? [denial] : []);
  const publisher = createKubePublisher({ client: f.client, resources: f.resources, view: f.view, log: pino({ level: 'silent' }), nodeName: 'node-1', statusIntervalMs: 10_000, clock });
  for (const read of f.readers) read([KEY]);
  await settle();
  await publisher.events.flush();
  const put = f.requests.find((r) => r.method === 'PUT')!;
  assert.equal(put.body.status.phase, 'Denied');
  assert.match(put.body.status.message, /^denied by policy \(generation \d+\): spec\.network: .*; nothing runs until the policy allows it$/);
  const degraded = put.body.status.conditions.find((c: { type: string }) => c.type === 'Degraded');
  assert.deepEqual([degraded.status, degraded.reason], ['True', 'PolicyDenied']);
  const events = () => f.requests.filter((r) => r.method === 'POST').map((r) => [r.body.type, r.body.reason, r.body.message]);
  assert.deepEqual(events(), [['Warning', 'Denied', `denied by policy: ${denial}`]]);
  clock.advance(10_000);
  await settle();
  await publisher.events.flush();
  assert.equal(events().length, 1, 'the same denial is not posted again within 5 minutes');
  await publisher.stop();
});

test('a health transition writes the status and posts an Event (Unhealthy a Warning); a probe that changes nothing posts none', async () => {
  const clock = new FakeClock();
  const f = fixture();
  const health = new Set<(e: HealthChange) => void>();
  const view: ControllerView = { ...f.view, onHealth: (l) => (health.add(l), () => health.delete(l)) };
  const publisher = createKubePublisher({ client: f.client, resources: f.resources, view, log: pino({ level: 'silent' }), nodeName: 'node-1', statusIntervalMs: 60_000, clock });
  const state = (status: HealthState['status'], failures: number, output: string): HealthState => ({ status, failures, since: 0, passedOnce: status === 'Healthy', last: { at: 1, healthy: status === 'Healthy', output } });
  const emit = (e: HealthChange) => {
    for (const l of health) l(e);
  };
  f.rows[0] = { ...f.rows[0], health: 'Unhealthy' };
  emit({ key: KEY, pid: 7, before: state('Healthy', 2, 'slow'), after: state('Unhealthy', 3, 'connection refused') });
  emit({ key: KEY, pid: 7, before: state('Unhealthy', 3, 'x'), after: state('Unhealthy', 4, 'y') });
  await settle();
  await publisher.events.flush();
  const posted = f.requests.filter((r) => r.method === 'POST').map((r) => [r.body.type, r.body.reason, r.body.message]);
  assert.deepEqual(posted, [['Warning', 'Unhealthy', 'container default.web (pid 7): unhealthy: 3 consecutive failed probes; last: connection refused']]);
  const put = f.requests.find((r) => r.method === 'PUT');
  assert.equal(put?.body.status.health, 'Unhealthy');
  assert.ok(put?.body.status.conditions.some((c: { type: string; status: string }) => c.type === 'Healthy' && c.status === 'False'));
  await publisher.stop();
  assert.equal(health.size, 0, 'no longer follows the health stream');
});

test('a bad spec: a Warning InvalidSpec Event naming the field, once, besides the status', async () => {
  const clock = new FakeClock();
  const f = fixture();
  f.resources.problemsOf = (key) => (key === KEY ? ['spec.mounts[0].source: is required for a bind mount'] : []);
  const publisher = createKubePublisher({ client: f.client, resources: f.resources, view: f.view, log: pino({ level: 'silent' }), nodeName: 'node-1', statusIntervalMs: 10_000, clock });
  for (const read of f.readers) read([KEY]);
  await settle();
  await publisher.events.flush();
  const events = () => f.requests.filter((r) => r.method === 'POST').map((r) => [r.body.type, r.body.reason, r.body.message]);
  assert.deepEqual(events(), [['Warning', 'InvalidSpec', 'invalid spec (generation 1): spec.mounts[0].source: is required for a bind mount']]);
  clock.advance(10_000);
  await settle();
  await publisher.events.flush();
  assert.equal(events().length, 1, 'not again within 5 minutes');
  await publisher.stop();
});

test('a status write that conflicts because the resource moved to another node: no write on the latest version', async () => {
  const f = fixture();
  const writes: string[] = [];
  f.client.request = async <T>(method: string, path: string): Promise<T> => {
    writes.push(`${method} ${path}`);
    if (method === 'PUT') throw new KubeApiError('Conflict', 'the object has been modified', 409);
    // The latest version, read after the 409: another node's now.
    return { ...f.obj, metadata: { ...f.obj.metadata, resourceVersion: '9' }, spec: { image: 'busybox', nodeName: 'node-2' } } as T;
  };
  const publisher = createKubePublisher({ client: f.client, resources: f.resources, view: f.view, log: pino({ level: 'silent' }), nodeName: 'node-1', statusIntervalMs: 60_000, clock: new FakeClock() });
  f.reconciled({ key: KEY });
  await waitIdle(publisher);
  assert.deepEqual(writes.filter((w) => !w.startsWith('POST')), [`PUT ${PATH}/status`, `GET ${PATH}`], 'one write, one read, and nothing written on node-2\'s resource');
  await publisher.stop();
});

async function waitIdle(publisher: { writer: { idle(): boolean } }): Promise<void> {
  for (let i = 0; i < 100 && !publisher.writer.idle(); i++) await settle();
  assert.ok(publisher.writer.idle());
}
