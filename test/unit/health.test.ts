// The health state machine (reconcile/health.ts): one table row per rule, and sequences of
// probes for the start period, the threshold and recovery.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeHealth, initialHealth, observeProbe, type HealthState } from '../../src/reconcile/health.js';

const T0 = 1_000_000;
const check = { startPeriodMs: 0, failureThreshold: 3 };
const pass = { healthy: true, output: 'ok', code: 0 };
const fail = { healthy: false, output: 'nope', code: 1 };

/** Feeds results one second apart from T0 + 1 s; returns every state. */
function run(results: boolean[], c = check, start = initialHealth(T0)): HealthState[] {
  const states: HealthState[] = [];
  let s = start;
  results.forEach((ok, i) => {
    s = observeProbe(s, ok ? pass : fail, c, T0 + (i + 1) * 1000);
    states.push(s);
  });
  return states;
}

test('a new task is Starting with no failures', () => {
  assert.deepEqual(initialHealth(T0), { status: 'Starting', failures: 0, since: T0, passedOnce: false });
});

test('one passing probe makes it Healthy', () => {
  const [s] = run([true]);
  assert.equal(s.status, 'Healthy');
  assert.equal(s.failures, 0);
  assert.deepEqual(s.last, { at: T0 + 1000, healthy: true, output: 'ok', code: 0 });
});

test('failureThreshold failures in a row make it Unhealthy, fewer do not', () => {
  assert.deepEqual(run([true, false, false, false]).map((s) => s.status), ['Healthy', 'Healthy', 'Healthy', 'Unhealthy']);
  assert.deepEqual(run([false, false, false]).map((s) => s.status), ['Starting', 'Starting', 'Unhealthy']);
  assert.deepEqual(run([false, false, false]).map((s) => s.failures), [1, 2, 3]);
});

test('a pass in between starts the count again', () => {
  const states = run([true, false, false, true, false, false]);
  assert.deepEqual(states.map((s) => s.status), ['Healthy', 'Healthy', 'Healthy', 'Healthy', 'Healthy', 'Healthy']);
  assert.deepEqual(states.map((s) => s.failures), [0, 1, 2, 0, 1, 2]);
});

test('failures inside the start period do not count; after it they do', () => {
  const c = { startPeriodMs: 3500, failureThreshold: 2 };
  // Probes at +1 s, +2 s, +3 s are inside the 3.5 s period; +4 s and +5 s are not.
  const states = run([false, false, false, false, false], c);
  assert.deepEqual(states.map((s) => s.failures), [0, 0, 0, 1, 2]);
  assert.deepEqual(states.map((s) => s.status), ['Starting', 'Starting', 'Starting', 'Starting', 'Unhealthy']);
  assert.equal(states[0].last?.output, 'nope', 'the output of an uncounted failure is still shown');
});

test('a pass ends the start period early: later failures count at once', () => {
  const c = { startPeriodMs: 60_000, failureThreshold: 2 };
  const states = run([true, false, false], c);
  assert.deepEqual(states.map((s) => s.status), ['Healthy', 'Healthy', 'Unhealthy']);
});

test('Unhealthy goes back to Healthy on a pass (restartPolicy Never keeps probing)', () => {
  const states = run([false, false, false, false, true]);
  assert.deepEqual(states.map((s) => s.status), ['Starting', 'Starting', 'Unhealthy', 'Unhealthy', 'Healthy']);
  assert.equal(states[3].failures, 4);
});

test('a timeout is a failure and is remembered as one', () => {
  const s = observeProbe(initialHealth(T0), { healthy: false, output: 'timed out', timedOut: true }, { startPeriodMs: 0, failureThreshold: 1 }, T0 + 5);
  assert.equal(s.status, 'Unhealthy');
  assert.equal(s.last?.timedOut, true);
});

test('the state machine is pure: the input state is not changed', () => {
  const s0 = initialHealth(T0);
  const copy = structuredClone(s0);
  observeProbe(s0, fail, check, T0 + 1);
  observeProbe(s0, pass, check, T0 + 1);
  assert.deepEqual(s0, copy);
});

test('describeHealth says the status, the count and the last output', () => {
  const [, , unhealthy] = run([false, false, false]);
  assert.equal(describeHealth(unhealthy), 'unhealthy: 3 consecutive failed probes; last: nope');
  assert.equal(describeHealth(initialHealth(T0)), 'starting');
  assert.equal(describeHealth(run([true])[0]), 'healthy');
  const silent = observeProbe(initialHealth(T0), { healthy: false, output: '', code: 7 }, { startPeriodMs: 0, failureThreshold: 1 }, T0 + 1);
  assert.equal(describeHealth(silent), 'unhealthy: 1 consecutive failed probe; last: exit code 7');
});
