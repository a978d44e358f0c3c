// The auto-update state machine (reconcile/update.ts) and the updater around it
// (reconcile/updater.ts) with a fake registry, a FakeClock and no containerd: checks,
// pulls by digest, the rollback window, rollbacks that remember the failed digest, and
// the images kept from collection.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { FakeClock } from '../../src/clock.js';
import { beginUpdate, decideCheck, noteExit, observeUpdate, type UpdateState } from '../../src/reconcile/update.js';
import { Updater } from '../../src/reconcile/updater.js';
import type { ActualContainer } from '../../src/reconcile/runtime.js';
import type { DesiredContainer } from '../../src/spec/types.js';
import { desired } from '../harness/specs.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const C = `sha256:${'c'.repeat(64)}`;
const REF = 'registry.local:5000/app:latest';
const W = 60_000;
const idle: UpdateState = { ref: REF, phase: 'Idle' };

test('a check: current, failed before, busy, or update', () => {
  assert.equal(decideCheck(idle, A, A), 'current');
  assert.equal(decideCheck(idle, A, B), 'update');
  assert.equal(decideCheck({ ...idle, failed: B }, A, B), 'failed-before');
  assert.equal(decideCheck({ ...idle, failed: B }, A, C), 'update', 'the tag moved on: try the new one');
  assert.equal(decideCheck({ ...idle, phase: 'Verifying' }, A, C), 'busy');
});

test('an update that runs through the window is Updated, and the previous digest is let go', () => {
  let s = beginUpdate(idle, A, B, 0, W, 10_000);
  assert.deepEqual([s.phase, s.target, s.previous, s.deadline], ['Updating', B, A, 70_000]);
  s = observeUpdate(s, { now: 1_000, digest: A, running: true }, W);
  assert.equal(s.phase, 'Updating', 'the old container still runs');
  s = observeUpdate(s, { now: 2_000, digest: B, running: true }, W);
  assert.deepEqual([s.phase, s.deadline], ['Verifying', 62_000]);
  s = observeUpdate(s, { now: 30_000, digest: B, running: true }, W);
  assert.equal(s.phase, 'Verifying');
  s = observeUpdate(s, { now: 62_000, digest: B, running: true }, W);
  assert.equal(s.phase, 'Idle');
  assert.equal(s.target, B);
  assert.equal(s.previous, undefined);
  assert.deepEqual(s.last, { outcome: 'Updated', at: 62_000, from: A, to: B, reason: 'ran through the rollback window' });
});

test('a non-zero exit in the window rolls back; the failed digest is remembered', () => {
  let s = observeUpdate(beginUpdate(idle, A, B, 0, W, 0), { now: 100, digest: B, running: true }, W);
  s = noteExit(s, 1);
  s = observeUpdate(s, { now: 200, digest: B, running: true }, W); // restarted meanwhile: the exit still counts
  assert.deepEqual([s.phase, s.target, s.failed], ['RollingBack', A, B]);
  assert.equal(s.last?.outcome, 'RolledBack');
  assert.match(s.last!.reason, /exited with code 1 in the rollback window/);
  s = observeUpdate(s, { now: 300, digest: B, running: true }, W);
  assert.equal(s.phase, 'RollingBack', 'not done before the previous digest runs');
  s = observeUpdate(s, { now: 400, digest: A, running: true }, W);
  assert.deepEqual([s.phase, s.target, s.failed], ['Idle', A, B]);
  assert.equal(decideCheck(s, A, B), 'failed-before');
});

test('exit 0 in the window is no failure; exits before or after it are not counted', () => {
  const verifying = observeUpdate(beginUpdate(idle, A, B, 0, W, 0), { now: 100, digest: B, running: true }, W);
  assert.equal(noteExit(verifying, 0), verifying);
  const updating = beginUpdate(idle, A, B, 0, W, 0);
  assert.equal(noteExit(updating, 143), updating, 'the old container stopping is not the new one failing');
  assert.equal(noteExit(idle, 1), idle);
});

test('a new container that exits at once, never runs, or is not healthy at the end rolls back', () => {
  const crashed = observeUpdate(beginUpdate(idle, A, B, 0, W, 0), { now: 100, digest: B, running: false, exitCode: 2 }, W);
  assert.equal(crashed.phase, 'RollingBack');
  assert.match(crashed.last!.reason, /exited with code 2/);
  const never = observeUpdate(beginUpdate(idle, A, B, 0, W, 5_000), { now: 65_000, digest: A, running: true }, W);
  assert.equal(never.phase, 'RollingBack');
  assert.match(never.last!.reason, /not running within the rollback window/);
  let sick = observeUpdate(beginUpdate(idle, A, B, 0, W, 0), { now: 100, digest: B, running: true, healthy: false }, W);
  sick = observeUpdate(sick, { now: 60_100, digest: B, running: true, healthy: false }, W);
  assert.equal(sick.phase, 'RollingBack');
  assert.match(sick.last!.reason, /not healthy/);
  let fine = observeUpdate(beginUpdate(idle, A, B, 0, W, 0), { now: 100, digest: B, running: true, healthy: false }, W);
  fine = observeUpdate(fine, { now: 60_100, digest: B, running: true, healthy: true }, W);
  assert.equal(fine.last?.outcome, 'Updated');
});

/** A world of one running container of REF on `digest`, a registry whose tag names `latest`. */
function world() {
  const clock = new FakeClock(0);
  const d: DesiredContainer = desired('app', { image: REF, autoUpdate: 'registry' });
  const state = { latest: B, pulls: [] as string[], collected: [] as string[][], queued: [] as [string, number | undefined][] };
  let actual: ActualContainer = { id: 'default.app', key: d.key, specHash: d.hash, managed: true, labels: {}, restarts: 0, task: { pid: 7, status: 'running' }, image: { digest: A, ref: REF } };
  const updater = new Updater({
    runtime: {
      latestDigest: async () => state.latest,
      ensureImage: async (ref) => void state.pulls.push(ref),
      collectImages: async (keep) => (state.collected.push([...keep]), []),
    },
    clock,
    log: pino({ level: 'silent' }),
    intervalMs: 1_000,
    windowMs: 5_000,
    desired: () => new Map([[d.key, d]]),
    actual: () => actual,
    healthy: () => true,
    enqueue: (key, ms) => void state.queued.push([key, ms]),
  });
  return { clock, d, state, updater, set: (a: Partial<ActualContainer>) => (actual = { ...actual, ...a }) };
}

test('the updater pulls a new digest by digest, keeps the running one, and has the planner recreate', async () => {
  const w = world();
  const reports = await w.updater.check();
  assert.deepEqual(reports.map((r) => r.result), ['updating']);
  assert.deepEqual(w.state.pulls, [`registry.local:5000/app@${A}`, `registry.local:5000/app@${B}`]);
  assert.deepEqual(w.updater.imageTarget('default/app'), { digest: B, reason: `auto-update ${A.slice(0, 19)} -> ${B.slice(0, 19)}` });
  assert.deepEqual(w.updater.createOptions(w.d, undefined), { imageDigest: B });
  assert.ok(w.state.collected[0].includes(`registry.local:5000/app@${A}`), 'the rollback target is kept from collection');
  assert.deepEqual(await w.updater.check(), [{ key: 'default/app', image: REF, result: 'busy', from: A, to: B, message: 'an update is under way (Updating)' }]);
  // The new container runs; the window passes; done.
  w.set({ image: { digest: B, ref: REF }, task: { pid: 8, status: 'running' } });
  w.updater.observe('default/app');
  assert.equal(w.updater.state('default/app')?.phase, 'Verifying');
  assert.deepEqual(w.state.queued.at(-1), ['default/app', 5_000], 'a look when the window ends');
  w.clock.advance(5_000);
  w.updater.observe('default/app');
  assert.equal(w.updater.state('default/app')?.last?.outcome, 'Updated');
  assert.equal(w.updater.imageTarget('default/app'), undefined);
  assert.deepEqual((await w.updater.check({ dryRun: true })).map((r) => r.result), ['current']);
});

test('the updater rolls back a failing digest and does not try it again until the tag moves', async () => {
  const w = world();
  await w.updater.check();
  w.set({ image: { digest: B, ref: REF }, task: { pid: 8, status: 'running' } });
  w.updater.observe('default/app');
  w.updater.exited('default/app', 1);
  w.updater.observe('default/app');
  assert.deepEqual(w.updater.imageTarget('default/app')?.digest, A);
  assert.deepEqual(w.updater.createOptions(w.d, undefined), { imageDigest: A, failedDigest: B });
  w.set({ image: { digest: A, ref: REF, failedDigest: B }, task: { pid: 9, status: 'running' } });
  w.updater.observe('default/app');
  assert.equal(w.updater.state('default/app')?.phase, 'Idle');
  const pulls = w.state.pulls.length;
  assert.deepEqual((await w.updater.check()).map((r) => r.result), ['failed-before']);
  assert.equal(w.state.pulls.length, pulls, 'nothing pulled');
  w.state.latest = C;
  assert.deepEqual((await w.updater.check({ dryRun: true })).map((r) => r.result), ['would-update']);
  assert.equal(w.state.pulls.length, pulls, 'a dry run pulls nothing');
  assert.deepEqual((await w.updater.check()).map((r) => r.result), ['updating']);
});

test('the updater checks every interval on the clock, and not a stopped container', async () => {
  const w = world();
  w.set({ task: { pid: 7, status: 'stopped', exitStatus: 0 } });
  assert.deepEqual((await w.updater.check()).map((r) => r.result), ['not-running']);
  w.set({ task: { pid: 7, status: 'running' } });
  w.updater.start();
  w.clock.advance(1_000);
  await new Promise((r) => setImmediate(r));
  assert.equal(w.updater.state('default/app')?.phase, 'Updating');
  w.updater.stop();
  assert.equal(w.clock.pending(), 0);
});
