// The informer's retries on a stepped clock: an unreachable API server is retried with the
// one back-off (doubling, ±20 % jitter, capped), the cache is kept meanwhile, and stop()
// ends a wait at once. No API server and no sleeping: a fake client and a FakeClock.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { FakeClock } from '../../src/clock.js';
import { KubeApiError, fromStatus, type KubeClient, type WatchEvent } from '../../src/sources/kube/client.js';
import { Informer } from '../../src/sources/kube/informer.js';

const PATH = '/apis/converge.dev/v1alpha1/containers';

/** A client whose list fails while `down`; a watch stays open (with no events) until aborted. */
function fakeClient() {
  const state = { down: true, lists: 0, watches: 0 };
  const client: KubeClient = {
    server: 'https://kube.invalid',
    async request<T>(): Promise<T> {
      state.lists++;
      if (state.down) throw new KubeApiError('Unavailable', 'connection refused');
      return { kind: 'ContainerList', apiVersion: 'converge.dev/v1alpha1', metadata: { resourceVersion: '7' }, items: [] } as T;
    },
    async watch(_path, _query, signal) {
      state.watches++;
      return (async function* (): AsyncGenerator<WatchEvent> {
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      })();
    },
  };
  return { client, state };
}

/** pino writing JSON lines into an array. */
function logSink() {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

/** Lets every promise that is ready run (the fake client answers without I/O). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

test('an unreachable API server is retried with a doubling, jittered, capped delay on the clock', async () => {
  const clock = new FakeClock();
  const { client, state } = fakeClient();
  const { log, lines } = logSink();
  let changes = 0;
  const informer = new Informer({ client, path: PATH, log, keep: () => true, onChange: () => changes++, backoff: { initialMs: 100, maxMs: 400 }, clock });
  await informer.start(); // resolves once the first list has failed
  await settle();
  const waits = () => lines.filter((l) => l.msg === 'kubernetes list/watch failed; keeping the last known resources').map((l) => l.retryInMs as number);
  assert.equal(state.lists, 1);
  assert.equal(informer.synced, false);
  assert.equal(informer.lastError?.code, 'Unavailable');

  for (let i = 0; i < 4; i++) {
    const wait = waits()[i];
    clock.advance(wait - 1);
    await settle();
    assert.equal(state.lists, i + 1, `no retry before ${wait} ms`);
    clock.advance(1);
    await settle();
    assert.equal(state.lists, i + 2, `a retry after ${wait} ms`);
  }
  const [a, b, c, d] = waits();
  assert.ok(a >= 80 && a <= 120, `first wait ${a} within 100 ms ±20 %`);
  assert.ok(b >= 160 && b <= 240, `second wait ${b} within 200 ms ±20 %`);
  assert.ok(c >= 320 && c <= 480, `third wait ${c} within 400 ms ±20 %`);
  assert.ok(d >= 320 && d <= 480, `fourth wait ${d} capped at 400 ms ±20 %`);

  state.down = false;
  clock.advance(waits()[4]);
  await settle();
  assert.equal(informer.synced, true);
  assert.equal(informer.resourceVersion, '7');
  assert.equal(state.watches, 1);
  assert.ok(changes >= 1);
  await informer.stop();
});

test('stop() ends a back-off wait at once and nothing is tried after it', async () => {
  const clock = new FakeClock();
  const { client, state } = fakeClient();
  const informer = new Informer({ client, path: PATH, log: pino({ level: 'silent' }), keep: () => true, onChange: () => {}, clock });
  await informer.start();
  await settle();
  assert.equal(clock.pending(), 1, 'waiting for the retry');
  await informer.stop();
  assert.equal(clock.pending(), 0, 'the wait is cancelled');
  clock.advance(60_000);
  await settle();
  assert.equal(state.lists, 1);
});

/** A client that records every list and watch query; `selectable` says whether it can select on spec.nodeName. */
function selectingClient(selectable: boolean) {
  const objects = [
    { apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name: 'here', namespace: 'default', resourceVersion: '5' }, spec: { nodeName: 'node-1' } },
    { apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name: 'there', namespace: 'default', resourceVersion: '6' }, spec: { nodeName: 'node-2' } },
  ];
  const lists: (string | undefined)[] = [];
  const watches: (string | undefined)[] = [];
  const client: KubeClient = {
    server: 'https://kube.invalid',
    async request<T>(_method: string, _path: string, options: { query?: Record<string, string | undefined> } = {}): Promise<T> {
      const selector = options.query?.fieldSelector;
      lists.push(selector);
      if (selector !== undefined && !selectable) throw new KubeApiError('BadRequest', 'field label not supported: spec.nodeName', 400, 'BadRequest');
      const items = selector === undefined ? objects : objects.filter((o) => `spec.nodeName=${o.spec.nodeName}` === selector);
      return { kind: 'ContainerList', apiVersion: 'converge.dev/v1alpha1', metadata: { resourceVersion: '7' }, items } as T;
    },
    async watch(_path, query, signal) {
      watches.push(query.fieldSelector);
      return (async function* (): AsyncGenerator<WatchEvent> {
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      })();
    },
  };
  return { client, lists, watches };
}

test('asks the server for this node only (fieldSelector on list and watch)', async () => {
  const { client, lists, watches } = selectingClient(true);
  const informer = new Informer({ client, path: PATH, log: pino({ level: 'silent' }), fieldSelector: 'spec.nodeName=node-1', keep: (o) => o.spec?.nodeName === 'node-1', onChange: () => {}, clock: new FakeClock() });
  await informer.start();
  await settle();
  assert.deepEqual(lists, ['spec.nodeName=node-1']);
  assert.deepEqual(watches, ['spec.nodeName=node-1']);
  assert.deepEqual([...informer.objects.keys()], ['default/here']);
  await informer.stop();
});

test('a server that answers 400 to the field selector is read whole and filtered here, at once and for good', async () => {
  const { client, lists, watches } = selectingClient(false);
  const { log, lines } = logSink();
  const clock = new FakeClock();
  const informer = new Informer({ client, path: PATH, log, fieldSelector: 'spec.nodeName=node-1', keep: (o) => o.spec?.nodeName === 'node-1', onChange: () => {}, clock });
  await informer.start();
  await settle();
  assert.deepEqual(lists, ['spec.nodeName=node-1', undefined], 'the second list without the selector, with no back-off wait');
  assert.deepEqual(watches, [undefined]);
  assert.equal(informer.synced, true);
  assert.equal(informer.fieldSelector, undefined);
  assert.deepEqual([...informer.objects.keys()], ['default/here'], 'the other node\'s resource is filtered out here');
  assert.equal(lines.filter((l) => l.msg === 'the API server cannot select on the field; reading every resource and filtering here').length, 1);
  await informer.stop();
});

test("a 429 with retryAfterSeconds (the server's cache filling) waits as long as the server asks, when that is longer", async () => {
  const clock = new FakeClock();
  const { client, state } = fakeClient();
  const request = client.request.bind(client);
  let busy = true;
  client.request = async <T>(...args: Parameters<KubeClient['request']>): Promise<T> => {
    if (busy) {
      state.lists++;
      throw fromStatus({ code: 429, reason: 'TooManyRequests', message: 'storage is (re)initializing', details: { retryAfterSeconds: 1 } });
    }
    return request<T>(...args);
  };
  state.down = false;
  const { log, lines } = logSink();
  const informer = new Informer({ client, path: PATH, log, keep: () => true, onChange: () => undefined, backoff: { initialMs: 100, maxMs: 400 }, clock });
  await informer.start();
  await settle();
  assert.equal(state.lists, 1);
  assert.deepEqual(lines.filter((l) => l.code === 'Unavailable').map((l) => l.retryInMs), [1000]);
  busy = false;
  clock.advance(999);
  await settle();
  assert.equal(state.lists, 1, 'not before the second the server asked for');
  clock.advance(1);
  await settle();
  assert.equal(state.lists, 2);
  assert.equal(informer.synced, true);
  await informer.stop();
});
