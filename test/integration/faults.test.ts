// The fault suite: converge killed at each named step of a create and a removal (the
// CONVERGE_FAILPOINT failpoints), containerd killed at random moments while many containers
// converge, a task's shim killed from outside. Each case ends with a leak check (containers,
// tasks, snapshots, leases, shims, converge's fds) and the restart counts its policy implies.
// Random choices come from one seed, printed, and taken from FAULT_SEED to replay a failure.
// Last, the task bundle containerd 1.6 leaves for good when it dies early in a task create.

import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lutimesSync, mkdirSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { FAILPOINT_STEPS } from '../../src/containerd/runtime.js';
import { shimsOf } from '../harness/procfs.js';
import { container, Env, sleeper, waitFor, type Converge, type Scenario } from './util.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(() => env?.cleanup());

/** A small deterministic generator (mulberry32): the same seed, the same faults. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedFor(t: TestContext): number {
  const seed = process.env.FAULT_SEED ? Number(process.env.FAULT_SEED) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`seed ${seed} (replay with FAULT_SEED=${seed})`);
  return seed;
}

const ids = (names: string[]): string[] => names.map((n) => `default.${n}`).sort();

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Lines of `ctr leases ls` (after its header) that converge made for one operation. */
async function operationLeases(s: Scenario): Promise<string[]> {
  const text = await s.ctr(['leases', 'ls']);
  return text
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((id) => id !== undefined && id.startsWith('converge-') && !id.startsWith('converge-pull-'));
}

/**
 * Exactly `names` are in containerd, each with a running task, its own snapshot and one
 * shim, and no operation lease is left; returns the running containers' restart counts.
 */
async function assertNoLeaks(s: Scenario, c: Converge, names: string[]): Promise<Record<string, number>> {
  const want = ids(names);
  await waitFor(
    async () => {
      const tasks = await s.tasks();
      return tasks.length === want.length && tasks.every((t) => t.status === 'running') ? tasks : undefined;
    },
    { what: `${want.length} running tasks`, timeoutMs: 60_000, detail: async () => `${JSON.stringify(await s.tasks())}\n${c.tail()}` },
  );
  assert.deepEqual(await s.containerIds(), want, 'containers');
  assert.deepEqual((await s.tasks()).map((t) => t.id), want, 'tasks');
  assert.deepEqual(await s.snapshotKeys(), want, 'snapshots');
  await waitFor(async () => (await operationLeases(s)).length === 0, {
    what: 'no operation lease left',
    detail: async () => (await operationLeases(s)).join(', '),
  });
  const shims = shimsOf(env.address).filter((x) => x.namespace === s.namespace);
  assert.deepEqual(shims.map((x) => x.id).sort(), want, 'one shim per container, none left over');
  const restarts: Record<string, number> = {};
  for (const id of want) restarts[id] = (await s.get(id))?.restarts ?? -1;
  return restarts;
}

describe('faults: converge killed at a failpoint', () => {
  const names = ['a', 'b', 'c'];
  for (const step of FAILPOINT_STEPS) {
    const removal = step === 'task-deleted' || step === 'snapshot-removed';
    it(`${removal ? 'a removal' : 'a create'} cut at ${step} is finished by the next converge, leaving nothing behind`, async (t) => {
      const s = await env.scenario(t, `fp-${step.slice(0, 8)}`);
      for (const n of [...names, ...(removal ? ['gone'] : [])]) s.write(`${n}.yaml`, container(n, sleeper(n)));
      if (removal) {
        const first = await s.run();
        await first.waitReady();
        for (const n of [...names, 'gone']) await s.waitRunning(`default.${n}`, { converge: first });
        await first.stop();
        s.remove('gone.yaml');
      }
      const doomed = await s.run([], undefined, { CONVERGE_FAILPOINT: step });
      await doomed.waitExit();
      assert.equal(doomed.exitSignal, 'SIGKILL', `killed at the failpoint\n${doomed.tail()}`);
      assert.ok(doomed.raw.some((l) => l.includes('failpoint reached')) || doomed.find((l) => l.msg === 'failpoint reached; killing converge').length > 0);

      const c = await s.run();
      await c.waitReady(30_000);
      const restarts = await assertNoLeaks(s, c, names);
      assert.deepEqual(Object.values(restarts), [0, 0, 0], `nothing counted as a restart\n${c.tail()}`);
      assert.deepEqual(c.find((l) => l.msg === 'reconcile failed' && l.code === 'Conflict'), []);
    });
  }
});

describe('faults: containerd killed while many containers converge', () => {
  it('every container runs once containerd is back, with nothing left over and no restart counted', async (t) => {
    const rand = random(seedFor(t));
    const s = await env.scenario(t, 'cdkill');
    const names = Array.from({ length: 30 }, (_, i) => `w${i}`);
    // A short resync and back-off: the test is about ending right, not about waiting.
    const c = await s.run(['--resync', '2s', '--backoff-max', '1s']);
    await c.waitReady();
    const fdsBefore = fdCount(c.pid);
    for (const n of names) s.write(`${n}.yaml`, container(n, sleeper(n)));
    for (let kill = 0; kill < 6; kill++) {
      await delay(Math.floor(rand() * 500));
      await env.cd.kill();
      await delay(Math.floor(rand() * 300));
      await env.cd.start();
    }
    const back = Date.now();
    const restarts = await assertNoLeaks(s, c, names);
    t.diagnostic(`all ${names.length} running ${Date.now() - back} ms after containerd's last restart`);
    assert.ok(c.running, 'converge rode it out');
    // Tasks whose start was cut may be started again, but none of them exited: no restart.
    const counted = Object.entries(restarts).filter(([, n]) => n !== 0);
    const story = (id: string): string => c.find((l) => l.key === id.replace('.', '/') || l.id === id).map((l) => JSON.stringify(l)).join('\n');
    assert.deepEqual(counted, [], counted.map(([id]) => story(id)).join('\n'));
    await waitFor(() => fdCount(c.pid) <= fdsBefore + 4, {
      what: `converge's fds back near ${fdsBefore}`,
      detail: () => `now ${fdCount(c.pid)}`,
    });
  });
});

describe('faults: a task shim killed from outside', () => {
  for (const policy of ['Always', 'Never'] as const) {
    it(`is an exit under restartPolicy ${policy}`, async (t) => {
      const s = await env.scenario(t, `shim-${policy.toLowerCase()}`);
      const c = await s.run(['--backoff-initial', '50ms']);
      s.write('job.yaml', container('job', { ...sleeper('job'), restartPolicy: policy }));
      const pid = await s.waitRunning('default.job', { converge: c });
      const shim = shimsOf(env.address).find((x) => x.namespace === s.namespace && x.id === 'default.job');
      assert.ok(shim, 'the shim is found');
      process.kill(shim.pid, 'SIGKILL');
      if (policy === 'Always') {
        await s.waitRunning('default.job', { notPid: pid, converge: c });
        const row = await c.waitRow('job', (r) => r.phase === 'Running' && r.restarts === 1, 'running again, counted');
        assert.equal(row.restarts, 1);
        assert.equal((await s.get('default.job'))?.restarts, 1);
      } else {
        const row = await c.waitRow('job', (r) => r.phase === 'Exited', 'Exited');
        assert.ok(row.exitCode !== null && row.exitCode !== 0, `an exit code is shown: ${row.exitCode}`);
        assert.equal((await s.get('default.job'))?.task, undefined, 'not started again');
        assert.deepEqual(c.actions('default/job').map((l) => l.action), ['create']);
      }
    });
  }
});

/** A container `web` that converge made, then stopped; its task killed and deleted by hand. */
async function webWithoutTask(t: TestContext, prefix: string): Promise<Scenario> {
  const s = await env.scenario(t, prefix);
  s.write('web.yaml', container('web', sleeper('web')));
  const first = await s.run();
  await s.waitRunning('default.web', { converge: first });
  await first.stop();
  await s.ctr(['tasks', 'kill', '--signal', 'SIGKILL', 'default.web']);
  await waitFor(async () => (await s.task('default.web'))?.status === 'stopped', { what: 'the task stopped' });
  await s.ctr(['tasks', 'delete', 'default.web']);
  return s;
}

describe('faults: a container left without its snapshot', () => {
  it('gets its root file system anew from its image at the next start', async (t) => {
    const s = await webWithoutTask(t, 'nosnap');
    // What a removal cut between the snapshot and the container record leaves behind.
    await s.ctr(['snapshots', 'rm', 'default.web']);
    assert.deepEqual(await s.snapshotKeys(), []);

    const c = await s.run();
    await s.waitRunning('default.web', { converge: c });
    await c.waitLog((l) => l.msg === 'container has no snapshot; preparing it again from its image', 'the snapshot made anew');
    await assertNoLeaks(s, c, ['web']);
  });
});

describe('faults: a task bundle containerd left behind', () => {
  it('is removed once nothing can be using it, and the task starts', async (t) => {
    const s = await webWithoutTask(t, 'bundle');
    // What containerd 1.6 leaves when it dies before the shim writes its runtime file: its
    // next start cannot clean it up, and every Create of the container fails on it.
    const bundle = path.join(env.cd.state, 'io.containerd.runtime.v2.task', s.namespace, 'default.web');
    const work = path.join(env.cd.root, 'io.containerd.runtime.v2.task', s.namespace, 'default.web');
    mkdirSync(path.join(bundle, 'rootfs'), { recursive: true });
    mkdirSync(work, { recursive: true });
    writeFileSync(path.join(bundle, 'config.json'), '{}');
    execFileSync('mkfifo', [path.join(bundle, 'log')]);
    symlinkSync(work, path.join(bundle, 'work'));
    const then = new Date(Date.now() - 60_000);
    for (const e of ['rootfs', 'config.json', 'log', 'work']) lutimesSync(path.join(bundle, e), then, then);
    utimesSync(bundle, then, then);
    // The crash that leaves it: containerd 2 deletes it as it starts; 1.6 and 1.7 cannot.
    await env.cd.kill();
    await env.cd.start();
    const left = existsSync(bundle);
    if (left) await assert.rejects(s.ctr(['tasks', 'start', '-d', 'default.web']), /file exists/, 'containerd cannot create the task over it');

    const c = await s.run();
    await s.waitRunning('default.web', { converge: c });
    const removed = c.find((l) => l.msg === 'removed a task bundle containerd left behind after a crash' && l.bundle === bundle);
    assert.equal(removed.length, left ? 1 : 0, `left by containerd: ${left}`);
    await assertNoLeaks(s, c, ['web']);
  });
});
