// The informer's retries on a stepped clock: an unreachable API server is retried with the
// one back-off (doubling, ±20 % jitter, capped), the cache is kept meanwhile, and stop()
// ends a wait at once. No API server and no sleeping: a fake client and a FakeClock.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { FakeClock } from '../../src/clock.js';
import { KubeApiError, type KubeClient, type WatchEvent } from '../../src/sources/kube/client.js';
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
