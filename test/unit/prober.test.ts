// The probe scheduler on a FakeClock: one timer wheel for every key (one clock timer, not one
// per container), probes spread over their period, no probe while the last one of the same
// key still runs, bounded concurrency, results of a replaced task dropped, and probes that
// could not be made counting for nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { FakeClock } from '../../src/clock.js';
import { Prober, type HealthChange } from '../../src/reconcile/prober.js';
import { TimerWheel } from '../../src/reconcile/wheel.js';
import { RuntimeError, type ActualContainer, type ProbeResult } from '../../src/reconcile/runtime.js';
import type { DesiredContainer } from '../../src/spec/types.js';
import { desired } from '../harness/specs.js';

const log = pino({ level: 'silent' });

function withCheck(name: string, check: Record<string, unknown> = {}): DesiredContainer {
  return desired(name, { healthCheck: { exec: ['true'], periodSeconds: 10, ...check } });
}

function running(d: DesiredContainer, pid = 100): ActualContainer {
  return { id: d.key.replace('/', '.'), key: d.key, specHash: d.hash, managed: true, labels: {}, restarts: 0, task: { pid, status: 'running' } };
}

/** A runtime whose probes answer when the test says so. */
function fakeRuntime() {
  const calls: { key: string; at: number; resolve: (r: ProbeResult) => void; reject: (e: unknown) => void }[] = [];
  let clock: FakeClock | undefined;
  return {
    calls,
    bind(c: FakeClock) {
      clock = c;
    },
    runtime: {
      probe: (d: DesiredContainer) =>
        new Promise<ProbeResult>((resolve, reject) => calls.push({ key: d.key, at: clock!.now(), resolve, reject })),
    },
  };
}

const flush = () => new Promise((r) => setImmediate(r));

function setup(concurrency = 1000) {
  const clock = new FakeClock(0);
  const fake = fakeRuntime();
  fake.bind(clock);
  const changes: HealthChange[] = [];
  const prober = new Prober({ runtime: fake.runtime, clock, log, onProbe: (c) => changes.push(c), concurrency });
  return { clock, fake, prober, changes };
}

test('the wheel serves many keys with one clock timer and fires each at its tick', () => {
  const clock = new FakeClock(0);
  const fired: [string, number][] = [];
  const wheel = new TimerWheel<string>(clock, (k) => fired.push([k, clock.now()]), { tickMs: 100, slots: 8 });
  wheel.schedule('a', 250);
  wheel.schedule('b', 2_000); // beyond one turn (800 ms): waits its round
  wheel.schedule('c', 90);
  assert.equal(clock.pending(), 1, 'one timer for the whole wheel');
  clock.advance(3_000);
  assert.deepEqual(fired, [['c', 100], ['a', 300], ['b', 2_000]]);
  assert.equal(clock.pending(), 0, 'an empty wheel has no timer');
  wheel.schedule('d', 3_500);
  wheel.cancel('d');
  clock.advance(1_000);
  assert.equal(fired.length, 3, 'a cancelled key does not fire');
});

test('100 containers with period 10 s are probed one per tick, not in a burst', async () => {
  const { clock, fake, prober } = setup();
  for (let i = 0; i < 100; i++) prober.track(withCheck(`c${i}`), running(withCheck(`c${i}`)));
  assert.equal(clock.pending(), 1, 'one clock timer for 100 containers');
  // Two full periods: every container is probed twice, never more than one at a tick.
  for (let t = 0; t < 200; t++) {
    clock.advance(100);
    await flush();
    for (const c of fake.calls.splice(0)) c.resolve({ healthy: true, output: '' });
  }
  await flush();
  const perKey = new Map<string, number>();
  for (const at of prober.schedule().values()) perKey.set(String(at), (perKey.get(String(at)) ?? 0) + 1);
  assert.equal(perKey.size, 100, 'every container has a tick of its own');
  assert.equal(prober.counts.started, 200);
  assert.equal(prober.counts.counted, 200);
});

test('probes every period from the first, spread within the first period', async () => {
  const { clock, fake, prober } = setup();
  const d = withCheck('web', { periodSeconds: 2 });
  prober.track(d, running(d));
  // Resolve as they come, then look at when they came.
  const times: number[] = [];
  const { calls } = fake;
  for (let t = 0; t < 140; t++) {
    for (const c of calls.splice(0)) (times.push(c.at), c.resolve({ healthy: true, output: '' }));
    clock.advance(100);
    await flush();
  }
  assert.ok(times.length >= 6, `probed ${times.length} times in 14 s`);
  assert.ok(times[0] <= 2_000, `the first probe comes within the first period: ${times[0]}`);
  assert.deepEqual(times.slice(1).map((t, i) => t - times[i]), times.slice(1).map(() => 2_000));
});

test('a slow probe is not doubled: the next one is skipped while it runs', async () => {
  const { clock, fake, prober } = setup();
  const d = withCheck('slow', { periodSeconds: 1, timeoutSeconds: 5 });
  prober.track(d, running(d));
  clock.advance(5_000);
  await flush();
  assert.equal(fake.calls.length, 1, 'one probe in flight, however many periods passed');
  fake.calls[0].resolve({ healthy: true, output: '' });
  await flush();
  clock.advance(1_000);
  await flush();
  assert.equal(fake.calls.length, 2, 'the next period probes again');
});

test('concurrency is bounded: the rest wait their turn and all run', async () => {
  const { clock, fake, prober } = setup(2);
  for (let i = 0; i < 5; i++) prober.track(withCheck(`c${i}`, { periodSeconds: 1 }), running(withCheck(`c${i}`, { periodSeconds: 1 })));
  clock.advance(1_000);
  await flush();
  assert.equal(fake.calls.length, 2);
  const keys = new Set<string>();
  for (let round = 0; round < 3; round++) {
    const now = fake.calls.splice(0);
    assert.ok(now.length <= 2, `at most 2 at once, got ${now.length}`);
    for (const c of now) (keys.add(c.key), c.resolve({ healthy: true, output: '' }));
    await flush();
  }
  assert.equal(keys.size, 5, `every key probed: ${[...keys].join(', ')}`);
});

test('results go through the state machine; a replaced task drops its late result', async () => {
  const { clock, fake, prober, changes } = setup();
  const d = withCheck('web', { periodSeconds: 1, failureThreshold: 2 });
  prober.track(d, running(d, 100));
  clock.advance(1_000);
  await flush();
  fake.calls.shift()!.resolve({ healthy: false, output: 'x', code: 1 });
  await flush();
  clock.advance(1_000);
  await flush();
  fake.calls.shift()!.resolve({ healthy: false, output: 'x', code: 1 });
  await flush();
  assert.equal(prober.health('default/web', 100)?.status, 'Unhealthy');
  assert.deepEqual(changes.map((c) => `${c.before.status}->${c.after.status}`), ['Starting->Starting', 'Starting->Unhealthy']);
  // A new task (pid 101): Starting again; a result of the old task's probe is dropped.
  clock.advance(1_000);
  await flush();
  const late = fake.calls.shift()!;
  prober.track(d, running(d, 101));
  late.resolve({ healthy: true, output: '' });
  await flush();
  assert.equal(prober.health('default/web', 101)?.status, 'Starting');
  assert.equal(prober.health('default/web', 100), undefined);
  assert.equal(changes.length, 2);
});

test('a probe that could not be made counts for nothing', async () => {
  const { clock, fake, prober, changes } = setup();
  const d = withCheck('web', { periodSeconds: 1, failureThreshold: 1 });
  prober.track(d, running(d));
  clock.advance(1_000);
  await flush();
  fake.calls.shift()!.reject(new RuntimeError('Unavailable', 'containerd away'));
  await flush();
  assert.equal(prober.health('default/web')?.status, 'Starting');
  assert.equal(prober.counts.notMade, 1);
  assert.deepEqual(changes, []);
});

test('probes stop when the task stops, the spec changes or the check goes', async () => {
  const { clock, fake, prober } = setup();
  const d = withCheck('web', { periodSeconds: 1 });
  prober.track(d, running(d));
  prober.track(d, { ...running(d), task: { pid: 100, status: 'stopped', exitStatus: 0 } });
  assert.equal(prober.health('default/web'), undefined);
  prober.track(d, running(d));
  prober.track(desired('web', {}), running(d)); // the check removed from the spec (hash h1 still)
  assert.equal(prober.health('default/web'), undefined);
  prober.track(d, { ...running(d), specHash: 'old' }); // the running container is of another spec
  assert.equal(prober.health('default/web'), undefined);
  clock.advance(10_000);
  await flush();
  assert.equal(fake.calls.length, 0);
  assert.equal(clock.pending(), 0, 'nothing left on the clock');
});

test('the same running task tracked again keeps its state and schedule (adopted after a resync)', async () => {
  const { clock, fake, prober } = setup();
  const d = withCheck('web', { periodSeconds: 1 });
  prober.track(d, running(d));
  const due = prober.schedule().get('default/web');
  clock.advance(1_000);
  await flush();
  fake.calls.shift()!.resolve({ healthy: true, output: '' });
  await flush();
  prober.track(d, running(d));
  assert.equal(prober.health('default/web')?.status, 'Healthy');
  assert.ok((prober.schedule().get('default/web') ?? 0) > (due ?? 0));
});
