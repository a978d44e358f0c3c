import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../src/reconcile/queue.js';
import { FakeClock } from '../../src/clock.js';

test('a key added many times runs once', async () => {
  const q = new WorkQueue(new FakeClock());
  q.add('a');
  q.add('b');
  q.add('a');
  assert.equal(q.len(), 2);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
});

test('a key added while processing runs again after done, never twice at once', async () => {
  const q = new WorkQueue(new FakeClock());
  q.add('a');
  const key = await q.get();
  q.add('a');
  assert.equal(q.len(), 0, 'not handed to a second worker while processing');
  q.done(key!);
  assert.equal(q.len(), 1);
  assert.equal(await q.get(), 'a');
  q.done('a');
  assert.ok(q.idle());
});

test('a waiting worker is woken by add', async () => {
  const q = new WorkQueue(new FakeClock());
  const got = q.get();
  q.add('x');
  assert.equal(await got, 'x');
});

test('addAfter fires on the clock; the earliest pending add wins', async () => {
  const clock = new FakeClock();
  const q = new WorkQueue(clock);
  q.addAfter('a', 1000);
  q.addAfter('a', 300);
  q.addAfter('a', 2000);
  assert.equal(q.len(), 0);
  clock.advance(299);
  assert.equal(q.len(), 0);
  clock.advance(1);
  assert.equal(q.len(), 1);
  assert.equal(clock.pending(), 0, 'the later timer was replaced, not kept');
});

test('addRateLimited backs off per key; forget resets', () => {
  const clock = new FakeClock();
  const q = new WorkQueue(clock);
  assert.equal(q.addRateLimited('a'), 200);
  clock.advance(200);
  assert.equal(q.len(), 1);
  assert.equal(q.addRateLimited('a'), 400);
  q.forget('a');
  assert.equal(q.limiter.retries('a'), 0);
});

test('shutdown releases waiting workers with undefined', async () => {
  const q = new WorkQueue(new FakeClock());
  const got = q.get();
  q.shutdown();
  assert.equal(await got, undefined);
  q.add('late');
  assert.equal(q.len(), 0);
});
