// The controller's memory: a listing stands in for a read only for keys nothing happened
// to since the listing began, and only once; a vanished task's exit is remembered.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Memory } from '../../src/reconcile/memory.js';
import type { ActualContainer } from '../../src/reconcile/runtime.js';

const c = (name: string, withTask = true): ActualContainer => ({
  key: `default/${name}`,
  id: `default.${name}`,
  specHash: 'h',
  managed: true,
  labels: {},
  restarts: 0,
  task: withTask ? { pid: 7, status: 'running' } : undefined,
});

test('a listing is used once for an untouched key, never for one touched since it began', () => {
  const m = new Memory();
  const began = m.beginListing();
  m.touch('default/b'); // an event or an action while the list call was out
  m.recordListing(began, [c('a'), c('b')]);
  assert.deepEqual(m.takeListed('default/a'), { actual: c('a') });
  assert.equal(m.takeListed('default/a'), undefined, 'used once; the next reconcile reads');
  assert.equal(m.takeListed('default/b'), undefined, 'stale for b');
});

test('a key missing from the listing is known gone, unless touched since', () => {
  const m = new Memory();
  m.setActual('default/a', c('a'));
  m.setActual('default/b', c('b'));
  const began = m.beginListing();
  m.touch('default/b');
  m.recordListing(began, []);
  assert.deepEqual(m.takeListed('default/a'), { actual: undefined });
  assert.ok(m.actual.has('default/b'), 'b keeps what it had; its reconcile reads it');
});

test('a touch after the listing was recorded withdraws it', () => {
  const m = new Memory();
  m.recordListing(m.beginListing(), [c('a')]);
  m.touch('default/a');
  assert.equal(m.takeListed('default/a'), undefined);
});

test('a vanished task: the reported exit, else 255 once a task was seen, else nothing', () => {
  const m = new Memory();
  assert.equal(m.vanished('default/a', 5), undefined, 'never seen with a task: never started');
  m.setActual('default/a', c('a'));
  assert.deepEqual(m.vanished('default/a', 5), { exitCode: 255, exitedAt: 5 });
  m.exits.set('default/a', { pid: 7, exitStatus: 137, exitedAt: 3 });
  assert.deepEqual(m.vanished('default/a', 5), { exitCode: 137, exitedAt: 3 });
  m.forget('default/a');
  assert.equal(m.vanished('default/a', 5), undefined);
});

test('inputsOf changes with the desired hash, readiness, the task and a dependency', () => {
  const m = new Memory();
  const d = { hash: 'h1', resolved: { dependsOn: [{ key: 'default/db' }] } };
  m.setActual('default/a', c('a'));
  const base = m.inputsOf('default/a', d, true);
  assert.equal(m.inputsOf('default/a', d, true), base, 'the same inputs, the same string');
  assert.notEqual(m.inputsOf('default/a', { ...d, hash: 'h2' }, true), base);
  assert.notEqual(m.inputsOf('default/a', d, false), base);
  m.setActual('default/db', c('db'));
  assert.notEqual(m.inputsOf('default/a', d, true), base, 'the dependency runs now');
  m.setActual('default/a', { ...c('a'), task: { pid: 8, status: 'stopped', exitStatus: 1 } });
  assert.notEqual(m.inputsOf('default/a', d, true), base);
  // What the controller keeps beside the listing (health, an update's target) counts too.
  const before = m.inputsOf('default/a', d, true);
  m.extraInputs = () => 'Healthy';
  assert.notEqual(m.inputsOf('default/a', d, true), before);
});

test('keepListedOnly withdraws the listing from keys the resync did not queue', () => {
  const m = new Memory();
  m.recordListing(m.beginListing(), [c('a'), c('b')]);
  m.keepListedOnly(['default/a']);
  assert.ok(m.takeListed('default/a'));
  assert.equal(m.takeListed('default/b'), undefined);
});
