// Table tests for the planner: every lifecycle rule of DESIGN.md as one row.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dependencyStateOf, plan, planKey, unmet, type DependencyState, type PlanContext } from '../../src/reconcile/plan.js';
import type { ActualContainer, ActualTask } from '../../src/reconcile/runtime.js';
import type { DesiredContainer } from '../../src/spec/types.js';
import { desired } from '../harness/specs.js';

const NOW = 1_000_000;
const backoff = { initialMs: 100, maxMs: 5000, resetAfterMs: 10_000 };

function actual(name: string, task?: Partial<ActualTask>, hash = 'h1', restarts = 0): ActualContainer {
  return {
    id: `default.${name}`,
    key: `default/${name}`,
    specHash: hash,
    managed: true,
    labels: {},
    restarts,
    task: task ? { pid: 42, status: 'running', ...task } : undefined,
  };
}

/** A container converge did not make (no converge.dev/managed=true). */
function foreign(name: string, task?: Partial<ActualTask>, hash = ''): ActualContainer {
  return { ...actual(name, task, hash), managed: false };
}

function ctx(over: Partial<PlanContext> = {}): PlanContext {
  return { now: NOW, backoff, restarts: new Map(), removalAllowed: true, dependency: () => RUNNING, ...over };
}

const RUNNING: DependencyState = { declared: true, hasCheck: false, task: { status: 'running' } };
const dep = (state: Partial<DependencyState>) => () => ({ ...RUNNING, ...state });

const CHECK = { healthCheck: { exec: ['true'] } };
const unhealthy = { status: 'Unhealthy' as const, failures: 3, since: NOW - 60_000, passedOnce: true, last: { at: NOW, healthy: false, output: 'boom' } };

const stopped = (exitStatus: number, ago = 1000) => ({ status: 'stopped' as const, exitStatus, exitedAt: new Date(NOW - ago) });

const cases: Array<{ name: string; d?: DesiredContainer; a?: ActualContainer; c?: Partial<PlanContext>; want: string | undefined; reason?: RegExp }> = [
  { name: 'missing -> create', d: desired('web'), want: 'create', reason: /missing/ },
  { name: 'converged -> nothing', d: desired('web'), a: actual('web', {}), want: undefined },
  { name: 'hash changed -> recreate', d: desired('web', {}, 'h2'), a: actual('web', {}), want: 'recreate', reason: /spec changed/ },
  { name: 'hash changed before every source was read -> wait', d: desired('web', {}, 'h2'), a: actual('web', {}), c: { removalAllowed: false }, want: 'wait', reason: /not replacing/ },
  { name: 'no hash label (made by hand) -> recreate', d: desired('web'), a: actual('web', {}, ''), want: 'recreate', reason: /not created by converge/ },
  { name: 'container without task -> start', d: desired('web'), a: actual('web'), want: 'start' },
  { name: 'task vanished after exit 137, Always -> restart', d: desired('web'), a: actual('web'), c: { vanished: () => ({ exitCode: 137, exitedAt: NOW - 1000 }) }, want: 'restart', reason: /code 137/ },
  { name: 'task vanished after exit 137, Never -> leave', d: desired('web', { restartPolicy: 'Never' }), a: actual('web'), c: { vanished: () => ({ exitCode: 137, exitedAt: NOW - 1000 }) }, want: undefined },
  { name: 'task vanished, exit unknown (255), OnFailure -> restart', d: desired('web', { restartPolicy: 'OnFailure' }), a: actual('web'), c: { vanished: () => ({ exitCode: 255, exitedAt: NOW - 1000 }) }, want: 'restart', reason: /code 255/ },
  { name: 'task vanished just now -> wait for back-off', d: desired('web'), a: actual('web'), c: { vanished: () => ({ exitCode: 137, exitedAt: NOW - 10 }) }, want: 'wait', reason: /back-off/ },
  { name: 'task created, never started -> start', d: desired('web'), a: actual('web', { status: 'created' }), want: 'start' },
  { name: 'orphan -> remove', a: actual('old', {}), want: 'remove', reason: /no longer desired/ },
  { name: 'foreign orphan, running -> left alone', a: foreign('old', {}), want: undefined },
  { name: 'foreign orphan, stopped -> left alone', a: foreign('old', stopped(0)), want: undefined },
  { name: 'foreign orphan, no task -> left alone', a: foreign('old'), want: undefined },
  { name: 'foreign, running, same name as a spec -> conflict', d: desired('web'), a: foreign('web', {}), want: 'wait', reason: /conflict: .*not made by converge.*left alone/ },
  { name: 'foreign with converge\'s hash, running -> still a conflict', d: desired('web'), a: foreign('web', {}, 'h1'), want: 'wait', reason: /conflict/ },
  { name: 'foreign, paused -> conflict', d: desired('web'), a: foreign('web', { status: 'paused' }), want: 'wait', reason: /conflict/ },
  { name: 'foreign, created task -> conflict', d: desired('web'), a: foreign('web', { status: 'created' }), want: 'wait', reason: /conflict/ },
  { name: 'foreign, task exited -> stale: recreate', d: desired('web'), a: foreign('web', stopped(0)), want: 'recreate', reason: /stale container not made by converge/ },
  { name: 'foreign, no task -> stale: recreate', d: desired('web'), a: foreign('web'), want: 'recreate', reason: /stale/ },
  { name: 'foreign, no task, before every source was read -> wait', d: desired('web'), a: foreign('web'), c: { removalAllowed: false }, want: 'wait', reason: /not replacing/ },
  { name: 'orphan before sources read -> wait', a: actual('old', {}), c: { removalAllowed: false }, want: 'wait' },
  { name: 'nothing anywhere -> nothing', want: undefined },
  { name: 'exited 0, Always -> restart', d: desired('web'), a: actual('web', stopped(0)), want: 'restart' },
  { name: 'exited 1, Always -> restart', d: desired('web', { restartPolicy: 'Always' }), a: actual('web', stopped(1)), want: 'restart' },
  { name: 'exited 0, OnFailure -> leave', d: desired('web', { restartPolicy: 'OnFailure' }), a: actual('web', stopped(0)), want: undefined },
  { name: 'exited 3, OnFailure -> restart', d: desired('web', { restartPolicy: 'OnFailure' }), a: actual('web', stopped(3)), want: 'restart', reason: /code 3/ },
  { name: 'exited 3, Never -> leave', d: desired('web', { restartPolicy: 'Never' }), a: actual('web', stopped(3)), want: undefined },
  { name: 'exited just now -> wait for back-off', d: desired('web'), a: actual('web', stopped(1, 10)), want: 'wait', reason: /back-off/ },
  {
    name: 'crash loop: third quick exit waits 400 ms',
    d: desired('web'),
    a: actual('web', stopped(1, 300)),
    c: { restarts: new Map([['default/web', { consecutive: 2, startedAt: NOW - 500 }]]) },
    want: 'wait',
  },
  {
    name: 'ran longer than reset -> restart at once',
    d: desired('web'),
    a: actual('web', stopped(1, 150)),
    c: { restarts: new Map([['default/web', { consecutive: 6, startedAt: NOW - 60_000 }]]) },
    want: 'restart',
  },
  { name: 'dependency not running -> wait', d: desired('web', { dependsOn: ['db'] }), c: { dependency: dep({ task: undefined }) }, want: 'wait', reason: /^waiting for db to run$/ },
  { name: 'dependency running -> create', d: desired('web', { dependsOn: ['db'] }), want: 'create' },
  { name: 'running task ignores dependency', d: desired('web', { dependsOn: ['db'] }), a: actual('web', {}), c: { dependency: dep({ task: undefined }) }, want: undefined },
  { name: 'dependency no source declares -> wait, saying so', d: desired('web', { dependsOn: ['db'] }), c: { dependency: dep({ declared: false, task: undefined }) }, want: 'wait', reason: /^waiting for db \(no source declares it\)$/ },
  { name: 'Started: a stopped dependency -> wait', d: desired('web', { dependsOn: [{ name: 'db', condition: 'Started' }] }), c: { dependency: dep({ task: { status: 'stopped', exitCode: 0 } }) }, want: 'wait', reason: /db to run/ },
  { name: 'Healthy: Healthy -> create', d: desired('web', { dependsOn: [{ name: 'db', condition: 'Healthy' }] }), c: { dependency: dep({ hasCheck: true, task: { status: 'running', health: 'Healthy' } }) }, want: 'create' },
  { name: 'Healthy: Starting -> wait', d: desired('web', { dependsOn: [{ name: 'db', condition: 'Healthy' }] }), c: { dependency: dep({ hasCheck: true, task: { status: 'running' } }) }, want: 'wait', reason: /db to pass its health check \(Starting\)/ },
  { name: 'Healthy: Unhealthy -> wait', d: desired('web', { dependsOn: [{ name: 'db', condition: 'Healthy' }] }), c: { dependency: dep({ hasCheck: true, task: { status: 'running', health: 'Unhealthy' } }) }, want: 'wait', reason: /\(Unhealthy\)/ },
  { name: 'Healthy: no healthCheck -> wait, saying so', d: desired('web', { dependsOn: [{ name: 'db', condition: 'Healthy' }] }), want: 'wait', reason: /db to be healthy \(it has no healthCheck\)/ },
  { name: 'Healthy: not running -> wait', d: desired('web', { dependsOn: [{ name: 'db', condition: 'Healthy' }] }), c: { dependency: dep({ hasCheck: true, task: undefined }) }, want: 'wait', reason: /db to run and pass its health check/ },
  { name: 'Completed: exited 0 -> create', d: desired('web', { dependsOn: [{ name: 'migrate', condition: 'Completed' }] }), c: { dependency: dep({ task: { status: 'stopped', exitCode: 0 } }) }, want: 'create' },
  { name: 'Completed: exited 1 -> wait, saying so', d: desired('web', { dependsOn: [{ name: 'migrate', condition: 'Completed' }] }), c: { dependency: dep({ task: { status: 'stopped', exitCode: 1 } }) }, want: 'wait', reason: /migrate to complete \(it exited with code 1\)/ },
  { name: 'Completed: running -> wait', d: desired('web', { dependsOn: [{ name: 'migrate', condition: 'Completed' }] }), want: 'wait', reason: /migrate to complete \(running\)/ },
  { name: 'several unmet -> all named', d: desired('web', { dependsOn: ['db', { name: 'migrate', condition: 'Completed' }] }), c: { dependency: (k) => (k.endsWith('db') ? { declared: false, hasCheck: false } : RUNNING) }, want: 'wait', reason: /^waiting for db \(no source declares it\); migrate to complete \(running\)$/ },
  { name: 'member of a cycle -> wait', d: desired('web', { dependsOn: ['db'] }), c: { cycle: () => 'web -> db -> web' }, want: 'wait', reason: /part of the dependency cycle web -> db -> web/ },
  { name: 'exited member of a cycle is not restarted', d: desired('web', { dependsOn: ['db'] }), a: actual('web', stopped(1)), c: { cycle: () => 'web -> db -> web' }, want: 'wait', reason: /cycle/ },
  { name: 'auto-update target differs -> recreate', d: desired('web', { autoUpdate: 'registry' }), a: { ...actual('web', {}), image: { digest: 'sha256:a' } }, c: { imageTarget: () => ({ digest: 'sha256:b', reason: 'auto-update a -> b' }) }, want: 'recreate', reason: /^auto-update a -> b$/ },
  { name: 'auto-update target reached -> nothing', d: desired('web', { autoUpdate: 'registry' }), a: { ...actual('web', {}), image: { digest: 'sha256:b' } }, c: { imageTarget: () => ({ digest: 'sha256:b', reason: 'x' }) }, want: undefined },
  { name: 'auto-update before every source was read -> wait', d: desired('web', { autoUpdate: 'registry' }), a: actual('web', {}), c: { removalAllowed: false, imageTarget: () => ({ digest: 'sha256:b', reason: 'x' }) }, want: 'wait' },
  { name: 'spec changed, dependency down -> old one keeps running', d: desired('web', { dependsOn: ['db'] }, 'h2'), a: actual('web', {}), c: { dependency: dep({ task: undefined }) }, want: 'wait', reason: /db to run/ },
  // Health checks: an Unhealthy running task is like an exit.
  { name: 'running, Unhealthy, Always -> kill', d: desired('web', CHECK), a: actual('web', {}), c: { health: () => unhealthy }, want: 'kill', reason: /unhealthy: 3 consecutive failed probes; last: boom/ },
  { name: 'running, Unhealthy, OnFailure -> kill', d: desired('web', { ...CHECK, restartPolicy: 'OnFailure' }), a: actual('web', {}), c: { health: () => unhealthy }, want: 'kill' },
  { name: 'running, Unhealthy, Never -> only reported', d: desired('web', { ...CHECK, restartPolicy: 'Never' }), a: actual('web', {}), c: { health: () => unhealthy }, want: undefined },
  { name: 'running, Unhealthy of another pid -> nothing', d: desired('web', CHECK), a: actual('web', {}), c: { health: (_k, pid) => (pid === 7 ? unhealthy : undefined) }, want: undefined },
  { name: 'running, Healthy -> nothing', d: desired('web', CHECK), a: actual('web', {}), c: { health: () => ({ ...unhealthy, status: 'Healthy' as const }) }, want: undefined },
  { name: 'killed for health, exit 0, OnFailure -> restart', d: desired('web', { ...CHECK, restartPolicy: 'OnFailure' }), a: actual('web', stopped(0)), c: { killed: () => ({ reason: 'unhealthy', why: 'health' }) }, want: 'restart', reason: /killed for its health check/ },
  { name: 'killed for health, exit 143, Never -> leave', d: desired('web', { ...CHECK, restartPolicy: 'Never' }), a: actual('web', stopped(143)), c: { killed: () => ({ reason: 'unhealthy', why: 'health' }) }, want: undefined },
  { name: 'killed for health, just now -> back-off as any exit', d: desired('web', CHECK), a: actual('web', stopped(137, 10)), c: { killed: () => ({ reason: 'unhealthy', why: 'health' }) }, want: 'wait', reason: /back-off restarting: killed/ },
  // restart: true on a dependency: a new task of it restarts this one; without it, nothing.
  { name: 'dependency restarted after us, restart: true -> kill', d: desired('web', { dependsOn: [{ name: 'db', restart: true }] }), a: actual('web', {}), c: { startedAt: (k) => (k === 'default/db' ? NOW - 10 : NOW - 1000) }, want: 'kill', reason: /^db has a new task \(restart: true\)$/ },
  { name: 'dependency restarted after us, no restart: true -> nothing', d: desired('web', { dependsOn: [{ name: 'db' }] }), a: actual('web', {}), c: { startedAt: (k) => (k === 'default/db' ? NOW - 10 : NOW - 1000) }, want: undefined },
  { name: 'dependency started before us -> nothing', d: desired('web', { dependsOn: [{ name: 'db', restart: true }] }), a: actual('web', {}), c: { startedAt: (k) => (k === 'default/db' ? NOW - 1000 : NOW - 10) }, want: undefined },
  { name: 'adopted dependent, dependency restarted since -> kill', d: desired('web', { dependsOn: [{ name: 'db', restart: true }] }), a: actual('web', {}), c: { startedAt: (k) => (k === 'default/db' ? NOW - 10 : undefined) }, want: 'kill' },
  { name: 'both adopted -> nothing', d: desired('web', { dependsOn: [{ name: 'db', restart: true }] }), a: actual('web', {}), c: { startedAt: () => undefined }, want: undefined },
  // converge restart: stop the running task its own way, then start it whatever its policy and back-off.
  { name: 'restart requested, running -> kill', d: desired('web'), a: actual('web', {}), c: { restartRequested: () => true }, want: 'kill', reason: /^restart requested$/ },
  { name: 'restart requested, killed just now, Never -> restart without back-off', d: desired('web', { restartPolicy: 'Never' }), a: actual('web', stopped(143, 1)), c: { restartRequested: () => true, killed: () => ({ reason: 'restart requested', why: 'restart' }) }, want: 'restart', reason: /^restart requested$/ },
  { name: 'restart requested, exited 0 with OnFailure -> restart', d: desired('web', { restartPolicy: 'OnFailure' }), a: actual('web', stopped(0)), c: { restartRequested: () => true }, want: 'restart' },
  { name: 'restart requested, dependency down -> wait', d: desired('web', { dependsOn: ['db'] }), a: actual('web', stopped(0)), c: { restartRequested: () => true, dependency: dep({ task: undefined }) }, want: 'wait', reason: /db to run/ },
  { name: 'restart requested, paused -> nothing', d: desired('web'), a: actual('web', { status: 'paused' }), c: { restartRequested: () => true }, want: undefined },
  { name: 'stopped to follow a dependency, Never -> restart anyway', d: desired('web', { restartPolicy: 'Never', dependsOn: [{ name: 'db', restart: true }] }), a: actual('web', stopped(143)), c: { killed: () => ({ reason: 'db has a new task (restart: true)', why: 'dependency' }) }, want: 'restart', reason: /stopped because db has a new task/ },
];

for (const tc of cases) {
  test(`planKey: ${tc.name}`, () => {
    const action = planKey(tc.d, tc.a, ctx(tc.c));
    assert.equal(action?.type, tc.want);
    if (tc.reason) assert.match(action!.reason, tc.reason);
  });
}

test('planKey: back-off wait says when to look again', () => {
  const restarts = new Map([['default/web', { consecutive: 2, startedAt: NOW - 500 }]]);
  const action = planKey(desired('web'), actual('web', stopped(1, 300)), ctx({ restarts }));
  assert.equal(action?.type, 'wait');
  assert.equal(action.type === 'wait' && action.at, NOW - 300 + 400);
});

test('planKey: restart carries the crash-loop count', () => {
  const restarts = new Map([['default/web', { consecutive: 3, startedAt: NOW - 2000 }]]);
  const action = planKey(desired('web'), actual('web', stopped(1, 1000)), ctx({ restarts }));
  assert.deepEqual(action && action.type === 'restart' && [action.consecutive, action.exitCode], [3, 1]);
});

test('plan: whole snapshots, sorted by key, converged keys omitted', () => {
  const d = new Map([desired('a'), desired('b', {}, 'h2'), desired('c')].map((x) => [x.key, x] as const));
  const a = new Map([actual('b', {}), actual('c', {}), actual('z', {})].map((x) => [x.key, x] as const));
  const actions = plan(d, a, ctx());
  assert.deepEqual(
    actions.map((x) => `${x.type} ${x.key}`),
    ['create default/a', 'recreate default/b', 'remove default/z'],
  );
});

test('dependencyStateOf: a task containerd deleted after it ended still completed, with the exit converge saw', () => {
  const d = new Map([['default/migrate', desired('migrate', { restartPolicy: 'Never' })]]);
  const a = new Map([['default/migrate', actual('migrate')]]);
  const state = dependencyStateOf('default/migrate', d, a, undefined, () => ({ exitCode: 0, exitedAt: NOW - 5 }));
  assert.equal(unmet({ key: 'default/migrate', condition: 'Completed', restart: false }, state), undefined);
  const failed = dependencyStateOf('default/migrate', d, a, undefined, () => ({ exitCode: 3, exitedAt: NOW - 5 }));
  assert.match(unmet({ key: 'default/migrate', condition: 'Completed', restart: false }, failed) ?? '', /exited with code 3/);
});
