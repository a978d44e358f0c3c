// The controller's loop against an in-memory Runtime (a test double of containerd, fine for
// the logic; the integration suites run the same controller against a real containerd).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createController } from '../../src/reconcile/controller.js';
import { OPEN_GATE, type Source } from '../../src/desired.js';
import { desired as desiredOf } from '../harness/specs.js';
import { waitFor } from '../harness/wait.js';
import { markTaskMayHaveRun, type ActualContainer, type ProbeResult, type Runtime, type RuntimeEvent } from '../../src/reconcile/runtime.js';
import { FakeClock } from '../../src/clock.js';
import type { DesiredContainer, Snapshot } from '../../src/spec/types.js';

const log = pino({ level: 'silent' });

function desired(name: string, hash = 'h1'): DesiredContainer {
  return desiredOf(name, { imagePullPolicy: 'Never' }, hash);
}

/** containerd in a Map; records every call by name. */
class MemoryRuntime implements Runtime {
  containers = new Map<string, ActualContainer>();
  calls: string[] = [];
  private nextPid = 100;

  async list() {
    this.calls.push('list');
    return [...this.containers.values()].map((c) => structuredClone(c));
  }
  async get(id: string) {
    this.calls.push(`get ${id}`);
    const c = this.containers.get(id);
    return c && structuredClone(c);
  }
  async create(d: DesiredContainer, o: { restarts: number }) {
    this.calls.push(`create ${d.key}`);
    this.containers.set(d.key, { id: d.key.replace('/', '.'), key: d.key, specHash: d.hash, managed: true, labels: {}, restarts: o.restarts });
  }
  async start(id: string) {
    this.calls.push(`start ${id}`);
    const pid = this.nextPid++;
    this.containers.get(id)!.task = { pid, status: 'running' };
    return { pid };
  }
  async stop(id: string) {
    this.calls.push(`stop ${id}`);
    delete this.containers.get(id)?.task;
  }
  async deleteTask(id: string) {
    this.calls.push(`deleteTask ${id}`);
    delete this.containers.get(id)?.task;
    return undefined;
  }
  async remove(id: string) {
    this.calls.push(`remove ${id}`);
    this.containers.delete(id);
  }
  async setRestarts(id: string, n: number) {
    this.calls.push(`setRestarts ${id}`);
    this.containers.get(id)!.restarts = n;
  }
  private pending: RuntimeEvent[] = [];
  private wake?: () => void;
  /** Hands an event to the controller's stream, as containerd would publish it. */
  push(event: RuntimeEvent): void {
    this.pending.push(event);
    this.wake?.();
  }
  async *events(signal: AbortSignal): AsyncIterable<RuntimeEvent> {
    yield { type: 'connected' };
    while (!signal.aborted) {
      const next = this.pending.shift();
      if (next) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }
}

function staticSource(specs: DesiredContainer[]): Source & { emit(s: DesiredContainer[]): void } {
  let listener: ((s: Snapshot) => void) | undefined;
  const snap = (s: DesiredContainer[]): Snapshot => ({ source: 'test', specs: s, problems: [], complete: true });
  return {
    name: 'test',
    async start(onSnapshot) {
      listener = onSnapshot;
      onSnapshot(snap(specs));
    },
    async stop() {},
    emit(s) {
      listener?.(snap(s));
    },
  };
}

test('creates what is missing, then a resync of the converged state makes no calls but the list', async () => {
  const runtime = new MemoryRuntime();
  const source = staticSource([desired('a'), desired('b')]);
  const controller = createController({ runtime, sources: [source], log, workers: 2 });
  await controller.start();
  await waitFor(() => controller.ready() && controller.idle(), { what: 'first reconcile' });
  assert.deepEqual(
    runtime.calls.filter((c) => /^(create|start)/.test(c)).sort(),
    ['create default/a', 'create default/b', 'start default/a', 'start default/b'],
  );
  runtime.calls = [];
  await controller.resync();
  await waitFor(() => controller.idle(), { what: 'resync' });
  assert.deepEqual(runtime.calls, ['list'], 'a converged key is not read again, let alone changed');
  await controller.stop();
});

test('a reconcile of a converged key reads and changes nothing else', async () => {
  const runtime = new MemoryRuntime();
  const source = staticSource([desired('a')]);
  const controller = createController({ runtime, sources: [source], log });
  await controller.start();
  await waitFor(() => controller.ready() && controller.idle(), { what: 'first reconcile' });
  runtime.calls = [];
  source.emit([desired('a', 'h1')]); // the same spec again: no key changed
  source.emit([desired('a', 'h2')]); // a change: recreate
  await waitFor(() => controller.idle() && runtime.calls.includes('start default/a'), { what: 'recreate' });
  assert.deepEqual(runtime.calls, ['get default/a', 'remove default/a', 'create default/a', 'start default/a', 'get default/a']);
  await controller.stop();
});

test('a removal is not read back: the answer would be forgotten with the key', async () => {
  const runtime = new MemoryRuntime();
  const source = staticSource([desired('a')]);
  // Emptying the only source removes its containers only when that source may be empty.
  const controller = createController({ runtime, sources: [source], log, gate: { ...OPEN_GATE, allowEmpty: () => true } });
  await controller.start();
  await waitFor(() => controller.ready() && controller.idle(), { what: 'first reconcile' });
  runtime.calls = [];
  source.emit([]);
  await waitFor(() => controller.idle() && runtime.calls.includes('remove default/a'), { what: 'removal' });
  assert.deepEqual(runtime.calls, ['get default/a', 'remove default/a']);
  assert.deepEqual(controller.status(), [], 'the key is forgotten');
  await controller.stop();
});

test('nothing is removed before every source has been read; then orphans go', async () => {
  const runtime = new MemoryRuntime();
  runtime.containers.set('default/old', { id: 'default.old', key: 'default/old', specHash: 'x', managed: true, labels: {}, restarts: 0, task: { pid: 7, status: 'running' } });
  let release!: () => void;
  const slow: Source = {
    name: 'slow',
    start: (onSnapshot) =>
      new Promise<void>((resolve) => {
        onSnapshot({ source: 'slow', specs: [], problems: [], complete: false });
        release = () => {
          onSnapshot({ source: 'slow', specs: [], problems: [], complete: true });
          resolve();
        };
      }),
    async stop() {},
  };
  const controller = createController({ runtime, sources: [staticSource([desired('a')]), slow], log });
  const started = controller.start();
  await waitFor(() => runtime.calls.includes('start default/a'), { what: 'the ready source to converge' });
  assert.ok(runtime.containers.has('default/old'), 'kept while a source is unread');
  assert.equal(controller.ready(), false);
  release();
  await started;
  await waitFor(() => !runtime.containers.has('default/old') && controller.ready(), { what: 'orphan removal' });
  await controller.stop();
});

// containerd 2.x, restarted after a task ended while it was down, deletes that task at its
// start and no exit reaches converge: the container is found without a task at a resync.
// The back-off counts from when that was first seen, so the restart comes (it once waited
// forever, each look restarting the back-off from "now").
test('a task that vanished with no exit event is restarted after its back-off', async () => {
  const runtime = new MemoryRuntime();
  const source = staticSource([desiredOf('job', { imagePullPolicy: 'Never', restartPolicy: 'Always' })]);
  const controller = createController({ runtime, sources: [source], log, backoff: { initialMs: 50, maxMs: 50, resetAfterMs: 10_000 } });
  await controller.start();
  await waitFor(() => controller.ready() && controller.idle(), { what: 'first reconcile' });
  runtime.calls = [];
  delete runtime.containers.get('default/job')!.task;
  await controller.resync();
  await waitFor(() => runtime.calls.includes('start default/job') && controller.idle(), { what: 'the restart' });
  assert.equal(runtime.containers.get('default/job')!.restarts, 1);
  await controller.stop();
});

// A shim killed from outside, seen first as a vanished task: the restart's start meets the
// dead shim's task containerd still holds (AlreadyExists, then "ttrpc: closed"), and the
// real exit event (137) comes meanwhile. One exit, one restart counted, however many tries.
test('a restart whose start fails after its count is retried without counting again', async () => {
  let failures = 2;
  const runtime = new (class extends MemoryRuntime {
    override async start(id: string) {
      if (this.containers.get(id)?.restarts && failures > 0) {
        failures--;
        this.calls.push(`start ${id} (fails)`);
        throw new Error('tasks.Delete: failed to delete task: ttrpc: closed');
      }
      return super.start(id);
    }
  })();
  const source = staticSource([desiredOf('job', { imagePullPolicy: 'Never', restartPolicy: 'Always' })]);
  const controller = createController({ runtime, sources: [source], log, backoff: { initialMs: 1, maxMs: 1, resetAfterMs: 10_000 } });
  await controller.start();
  await waitFor(() => controller.ready() && controller.idle(), { what: 'first reconcile' });
  const { pid } = runtime.containers.get('default/job')!.task!;
  runtime.calls = [];
  delete runtime.containers.get('default/job')!.task;
  await controller.resync();
  runtime.push({ type: 'exit', key: 'default/job', pid, exitStatus: 137, exitedAt: new Date() });
  await waitFor(() => runtime.containers.get('default/job')?.task?.status === 'running' && controller.idle(), { what: 'the restart' });
  assert.equal(runtime.calls.filter((c) => c.endsWith('(fails)')).length, 2, `two failed tries: ${runtime.calls.join(', ')}`);
  assert.equal(runtime.calls.filter((c) => c === 'setRestarts default/job').length, 1, `counted once: ${runtime.calls.join(', ')}`);
  assert.equal(runtime.containers.get('default/job')!.restarts, 1);
  assert.equal(controller.status()[0].restarts, 1);
  await controller.stop();
});

// containerd 2.x's Tasks.List leaves out a task whose shim did not answer in time: the
// listing shows the container without it while the task runs on.
test('a task missing from a listing but there when read is not taken for gone', async () => {
  let omitTasks = false;
  const runtime = new (class extends MemoryRuntime {
    override async list() {
      const all = await super.list();
      if (omitTasks) for (const c of all) delete c.task;
      return all;
    }
  })();
  const clock = new FakeClock();
  const source = staticSource([desiredOf('job', { imagePullPolicy: 'Never', restartPolicy: 'Always' })]);
  const controller = createController({ runtime, sources: [source], log, clock, backoff: { initialMs: 1, maxMs: 1, resetAfterMs: 10_000 } });
  await controller.start();
  await waitFor(() => controller.ready() && controller.idle(), { what: 'first reconcile' });
  const { pid } = runtime.containers.get('default/job')!.task!;
  clock.advance(1000); // the listing begins after the create touched the key
  runtime.calls = [];
  omitTasks = true;
  await controller.resync();
  await waitFor(() => controller.idle() && runtime.calls.includes('get default/job'), { what: 'the key read again', detail: () => runtime.calls.join(', ') });
  assert.deepEqual(runtime.calls.filter((c) => !c.startsWith('list') && !c.startsWith('get')), [], `nothing restarted or deleted: ${runtime.calls.join(', ')}`);
  assert.equal(runtime.containers.get('default/job')!.task?.pid, pid);
  assert.equal(controller.status()[0].phase, 'Running');
  assert.equal(controller.status()[0].restarts, 0);
  await controller.stop();
});

// A task killed by the OOM killer at once: containerd's /tasks/oom (and its exit) can come
// before Tasks.Start has answered. The OOM kill is the new task's, not history.
test('an OOM kill reported while the start runs is kept for the new task', async () => {
  const runtime = new (class extends MemoryRuntime {
    override async start(id: string) {
      const started = await super.start(id);
      this.push({ type: 'oom', key: id });
      await new Promise((resolve) => setTimeout(resolve, 20)); // the event is handled meanwhile
      return started;
    }
  })();
  const source = staticSource([desiredOf('hog', { imagePullPolicy: 'Never', restartPolicy: 'Never' })]);
  const controller = createController({ runtime, sources: [source], log });
  await controller.start();
  await waitFor(() => controller.ready() && controller.idle(), { what: 'first reconcile' });
  const { pid } = runtime.containers.get('default/hog')!.task!;
  runtime.containers.get('default/hog')!.task = { pid, status: 'stopped', exitStatus: 137 };
  runtime.push({ type: 'exit', key: 'default/hog', pid, exitStatus: 137, exitedAt: new Date() });
  await waitFor(() => controller.idle() && controller.status()[0]?.phase === 'Exited', { what: 'the exit to show' });
  assert.match(controller.status()[0].message, /OOMKilled/);
  await controller.stop();
});

// A create cut by a crash of converge: the next converge finds the container without a task
// and cannot create one until containerd 1.7 has cleaned up the half-made task, whose exit
// (137) then arrives. converge never saw that task run: a start, not a restart.
test('the exit of a task converge never saw is not counted as a restart', async () => {
  let cleanedUp = false;
  const runtime = new (class extends MemoryRuntime {
    override async start(id: string) {
      if (!cleanedUp) {
        this.calls.push(`start ${id} (fails)`);
        throw new Error('failed to start shim: mkdir .../default.job: file exists');
      }
      return super.start(id);
    }
  })();
  runtime.containers.set('default/job', { id: 'default.job', key: 'default/job', specHash: 'h1', managed: true, labels: {}, restarts: 0 });
  const source = staticSource([desired('job')]);
  const controller = createController({ runtime, sources: [source], log, backoff: { initialMs: 1, maxMs: 1, resetAfterMs: 10_000 } });
  await controller.start();
  await waitFor(() => runtime.calls.includes('start default/job (fails)'), { what: 'a first start, failing' });
  runtime.push({ type: 'exit', key: 'default/job', pid: 4242, exitStatus: 137, exitedAt: new Date() });
  cleanedUp = true;
  await waitFor(() => runtime.containers.get('default/job')?.task?.status === 'running' && controller.idle(), { what: 'the start' });
  assert.equal(runtime.containers.get('default/job')!.restarts, 0);
  assert.ok(!runtime.calls.includes('setRestarts default/job'), `not counted as a restart: ${runtime.calls.join(', ')}`);
  await controller.stop();
});

// A shim killed from outside: containerd publishes the exit and deletes the task itself, so
// converge finds a container without a task. That is an exit like any other.
for (const [policy, restarted] of [['Never', false], ['Always', true]] as const) {
  test(`a task that vanished after exit 137 goes through restartPolicy ${policy}`, async () => {
    const runtime = new MemoryRuntime();
    const source = staticSource([desiredOf('job', { imagePullPolicy: 'Never', restartPolicy: policy })]);
    const controller = createController({ runtime, sources: [source], log, backoff: { initialMs: 1, maxMs: 1, resetAfterMs: 10_000 } });
    await controller.start();
    await waitFor(() => controller.ready() && controller.idle(), { what: 'first reconcile' });
    const { pid } = runtime.containers.get('default/job')!.task!;
    runtime.calls = [];
    delete runtime.containers.get('default/job')!.task;
    runtime.push({ type: 'exit', key: 'default/job', pid, exitStatus: 137, exitedAt: new Date() });
    if (restarted) {
      await waitFor(() => runtime.calls.includes('start default/job') && controller.idle(), { what: 'the restart' });
      assert.ok(runtime.calls.includes('setRestarts default/job'), 'counted as a restart');
      assert.equal(runtime.containers.get('default/job')!.restarts, 1);
    } else {
      await waitFor(() => controller.idle() && controller.status()[0]?.phase === 'Exited', { what: 'the exit to show' });
      assert.ok(!runtime.calls.some((c) => c.startsWith('start')), `not started again: ${runtime.calls.join(', ')}`);
      assert.equal(controller.status()[0].exitCode, 137);
    }
    await controller.stop();
  });
}

/** A running job (restartPolicy Always, a 10 s back-off on a fake clock) whose task has just exited 3. */
async function exitUnderBackoff(runtime: MemoryRuntime) {
  const source = staticSource([desiredOf('job', { imagePullPolicy: 'Never', restartPolicy: 'Always' })]);
  const clock = new FakeClock(Date.now());
  const controller = createController({ runtime, sources: [source], log, clock, backoff: { initialMs: 10_000, maxMs: 10_000, resetAfterMs: 60_000 } });
  await controller.start();
  await waitFor(() => controller.ready() && controller.idle(), { what: 'first reconcile' });
  runtime.calls = [];
  const c = runtime.containers.get('default/job')!;
  const exitedAt = clock.now();
  c.task = { pid: c.task!.pid, status: 'stopped', exitStatus: 3, exitedAt: new Date(exitedAt) };
  runtime.push({ type: 'exit', key: 'default/job', pid: c.task.pid, exitStatus: 3, exitedAt: new Date(exitedAt) });
  return { controller, clock, exitedAt };
}

test('an exited task waiting out its back-off is deleted during the wait: the restart is only a start, with its exit kept for the status', async () => {
  const runtime = new MemoryRuntime();
  const { controller, clock } = await exitUnderBackoff(runtime);
  await waitFor(() => runtime.calls.includes('deleteTask default/job') && controller.status()[0]?.phase === 'BackOff', {
    what: 'the stopped task deleted',
    detail: () => runtime.calls.join(', '),
  });
  assert.ok(!runtime.calls.some((x) => x.startsWith('start')), `deleted before the back-off ends, not restarted: ${runtime.calls.join(', ')}`);
  const row = controller.status()[0];
  assert.equal(row.phase, 'BackOff');
  assert.equal(row.exitCode, 3, 'the exit code is still shown');
  runtime.calls = [];
  // Time moves a second at a look until the back-off is over (its timer may be set just now).
  await waitFor(() => runtime.calls.includes('start default/job') || void clock.advance(1_000), { what: 'the restart', detail: () => runtime.calls.join(', ') });
  await waitFor(() => controller.idle(), { what: 'idle after the restart' });
  assert.ok(!runtime.calls.includes('deleteTask default/job'), `the restart deletes nothing more: ${runtime.calls.join(', ')}`);
  assert.equal(runtime.containers.get('default/job')!.restarts, 1, 'counted as a restart');
  await controller.stop();
});

test('a restart waiting out its back-off has its task made a second before it is due, hidden until then; the restart only starts it', async () => {
  const runtime = new (class extends MemoryRuntime {
    async prepareStart(id: string) {
      this.calls.push(`prepareStart ${id}`);
      this.containers.get(id)!.task = { pid: 999, status: 'created' };
    }
    override async start(id: string) {
      const task = this.containers.get(id)?.task;
      if (task?.status !== 'created') return super.start(id);
      this.calls.push(`start ${id} (created)`);
      task.status = 'running';
      return { pid: task.pid };
    }
  })();
  const { controller, clock, exitedAt } = await exitUnderBackoff(runtime);
  await waitFor(() => runtime.calls.includes('deleteTask default/job') && controller.status()[0]?.phase === 'BackOff', { what: 'the stopped task deleted' });
  assert.ok(!runtime.calls.includes('prepareStart default/job'), `not made 10 s ahead: ${runtime.calls.join(', ')}`);
  // A second at a look, until the task is made: not before 9 s of the 10 s back-off.
  await waitFor(() => runtime.calls.includes('prepareStart default/job') || void clock.advance(1_000), { what: 'the task made', detail: () => runtime.calls.join(', ') });
  assert.ok(clock.now() - exitedAt >= 9_000, `made ${clock.now() - exitedAt} ms after the exit`);
  await waitFor(() => controller.status()[0]?.restarts === 1, { what: 'the count written' });
  assert.equal(runtime.containers.get('default/job')!.task?.status, 'created');
  let row = controller.status()[0];
  assert.deepEqual([row.phase, row.pid, row.exitCode, row.restarts], ['BackOff', null, 3, 1], 'the exit is what shows; the count is written with the task');
  await controller.resync();
  assert.equal(controller.status()[0].phase, 'BackOff', 'a listing hides the made task too');
  assert.ok(!runtime.calls.some((x) => x.startsWith('start')), `not started before it is due: ${runtime.calls.join(', ')}`);
  runtime.calls = [];
  await waitFor(() => runtime.calls.includes('start default/job (created)') || void clock.advance(250), { what: 'the restart', detail: () => runtime.calls.join(', ') });
  assert.ok(clock.now() - exitedAt >= 10_000, 'not before the back-off is over');
  await waitFor(() => controller.status()[0]?.phase === 'Running', { what: 'running after the restart' });
  row = controller.status()[0];
  assert.deepEqual([row.phase, row.pid, row.restarts], ['Running', 999, 1]);
  assert.deepEqual(runtime.calls.filter((x) => /^(setRestarts|deleteTask|prepareStart|create)/.test(x)), [], 'the restart only starts the task');
  await controller.stop();
});

/**
 * A shim killed just as Tasks.Start answers: containerd reports the exit (not always the
 * start), and the start call itself fails (NotFound, "ttrpc: closed"). The first start only.
 */
class DyingStart extends MemoryRuntime {
  private dying = true;
  constructor(private readonly failure: Error) {
    super();
  }
  override async start(id: string): Promise<{ pid: number }> {
    if (!this.dying) return super.start(id);
    this.dying = false;
    const { pid } = await super.start(id);
    delete this.containers.get(id)!.task;
    this.push({ type: 'exit', key: id, pid, exitStatus: 137, exitedAt: new Date() });
    throw markTaskMayHaveRun(this.failure);
  }
}

test('a task whose start call failed but which started and exited is restarted, counted', async () => {
  const runtime = new DyingStart(Object.assign(new Error('tasks.Start: not found'), { code: 'NotFound' }));
  const source = staticSource([desiredOf('job', { imagePullPolicy: 'Never', restartPolicy: 'Always' })]);
  const controller = createController({ runtime, sources: [source], log, backoff: { initialMs: 1, maxMs: 1, resetAfterMs: 10_000 } });
  await controller.start();
  await waitFor(() => controller.status()[0]?.phase === 'Running', { what: 'running again', detail: () => runtime.calls.join(', ') });
  assert.equal(runtime.containers.get('default/job')!.restarts, 1, `counted: ${runtime.calls.join(', ')}`);
  await controller.stop();
});

test('under restartPolicy Never, such a task is Exited, not started again', async () => {
  const runtime = new DyingStart(Object.assign(new Error('tasks.Start: ttrpc: closed'), { code: 'Unknown' }));
  const source = staticSource([desiredOf('job', { imagePullPolicy: 'Never', restartPolicy: 'Never' })]);
  const controller = createController({ runtime, sources: [source], log, backoff: { initialMs: 500, maxMs: 500, resetAfterMs: 10_000 } });
  await controller.start();
  await waitFor(() => controller.status()[0]?.phase === 'Exited' || runtime.calls.filter((c) => c.startsWith('start')).length > 1, {
    what: 'Exited, or started again',
    detail: () => `${JSON.stringify(controller.status()[0])} ${runtime.calls.join(', ')}`,
  });
  assert.equal(controller.status()[0].exitCode, 137, JSON.stringify(controller.status()[0]));
  assert.equal(runtime.calls.filter((c) => c.startsWith('start')).length, 1, `started once: ${runtime.calls.join(', ')}`);
  await controller.stop();
});

/** containerd going away during the first Tasks.Start: back, it shows the task stopped (exit 1). */
class CutStart extends MemoryRuntime {
  private cut = true;
  override async start(id: string): Promise<{ pid: number }> {
    if (!this.cut) return super.start(id);
    this.cut = false;
    const { pid } = await super.start(id);
    this.containers.get(id)!.task = { pid, status: 'stopped', exitStatus: 1, exitedAt: new Date() };
    throw Object.assign(new Error('tasks.Start: Connection dropped'), { code: 'Unavailable' });
  }
}

test('a start cut by containerd going away is restarted, not counted as a restart', async () => {
  const runtime = new CutStart();
  const source = staticSource([desiredOf('job', { imagePullPolicy: 'Never', restartPolicy: 'Always' })]);
  const controller = createController({ runtime, sources: [source], log, backoff: { initialMs: 1, maxMs: 1, resetAfterMs: 10_000 } });
  await controller.start();
  await waitFor(() => controller.status()[0]?.phase === 'Running', { what: 'running again', detail: () => runtime.calls.join(', ') });
  assert.equal(runtime.containers.get('default/job')!.restarts, 0, `not counted: ${runtime.calls.join(', ')}`);
  assert.equal(controller.status()[0].restarts, 0);
  await controller.stop();
});

/** Its first task ends as soon as it starts, and the exit event is lost (containerd 2.x's shim exiting with it unsent). */
class LostExit extends MemoryRuntime {
  private first = true;
  override async start(id: string): Promise<{ pid: number }> {
    const { pid } = await super.start(id);
    if (this.first) this.containers.get(id)!.task = { pid, status: 'stopped', exitStatus: 1, exitedAt: new Date() };
    this.first = false;
    return { pid };
  }
}

test('an exit a read shows is told once, whether its event never comes or comes late', async () => {
  const runtime = new LostExit();
  const lines: Array<Record<string, unknown>> = [];
  const logged = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const exits = () => lines.filter((l) => l.msg === 'task exited').map((l) => ({ pid: l.pid, exitStatus: l.exitStatus, seenBy: l.seenBy }));
  const source = staticSource([desiredOf('job', { imagePullPolicy: 'Never', restartPolicy: 'Always' })]);
  const controller = createController({ runtime, sources: [source], log: logged, backoff: { initialMs: 1, maxMs: 1, resetAfterMs: 10_000 } });
  await controller.start();
  await waitFor(() => controller.status()[0]?.phase === 'Running' && controller.status()[0]?.restarts === 1, { what: 'restarted once', detail: () => runtime.calls.join(', ') });
  assert.deepEqual(exits(), [{ pid: 100, exitStatus: 1, seenBy: 'read' }]);
  // The lost event turns up after all, after the restart: the same exit, not told again.
  const calls = runtime.calls.length;
  runtime.push({ type: 'exit', key: 'default/job', pid: 100, exitStatus: 1 });
  // The event queues the key, whose reconcile reads it.
  await waitFor(() => runtime.calls.slice(calls).includes('get default/job') && controller.idle(), { what: 'the late event handled' });
  await controller.stop();
  assert.deepEqual(exits(), [{ pid: 100, exitStatus: 1, seenBy: 'read' }]);
  assert.equal(runtime.containers.get('default/job')!.task?.status, 'running', 'the late exit of the old task does not touch the new one');
});

test('a container converge did not make is never removed: left alone as an orphan, a conflict when a spec names it', async () => {
  const runtime = new MemoryRuntime();
  const foreign = (key: string): ActualContainer => ({ id: key.replace('/', '.'), key, specHash: '', managed: false, labels: {}, restarts: 0, task: { pid: 7, status: 'running' } });
  runtime.containers.set('default/stranger', foreign('default/stranger'));
  runtime.containers.set('default/web', foreign('default/web'));
  const controller = createController({ runtime, sources: [staticSource([desired('web')])], log });
  await controller.start();
  await waitFor(() => controller.ready() && controller.idle(), { what: 'first reconcile' });
  assert.deepEqual(runtime.calls.filter((c) => !c.startsWith('list') && !c.startsWith('get')), [], 'nothing removed, created or started');
  assert.deepEqual(controller.status().map((r) => [r.name, r.phase]), [['web', 'Conflict']], 'the orphan is not converge\'s to show');
  assert.match(controller.status()[0].message, /not made by converge/);

  // Its task ends: now it is a stale object, replaced by converge's own.
  runtime.containers.get('default/web')!.task = { pid: 7, status: 'stopped', exitStatus: 0 };
  runtime.push({ type: 'exit', key: 'default/web', pid: 7, exitStatus: 0 });
  await waitFor(() => runtime.containers.get('default/web')?.managed === true && controller.idle(), { what: 'the stale one replaced' });
  assert.ok(runtime.containers.has('default/stranger'), 'the foreign orphan is still there');
  await controller.stop();
});

test('create that meets a foreign running container (it appeared after the plan) is a conflict, nothing deleted', async () => {
  const runtime = new MemoryRuntime();
  runtime.create = async (d) => {
    runtime.calls.push(`create ${d.key}`);
    runtime.containers.set(d.key, { id: 'default.web', key: d.key, specHash: '', managed: false, labels: {}, restarts: 0, task: { pid: 9, status: 'running' } });
    throw Object.assign(new Error('container "default.web": already exists'), { code: 'AlreadyExists' });
  };
  const controller = createController({ runtime, sources: [staticSource([desired('web')])], log, backoff: { initialMs: 60_000, maxMs: 60_000, resetAfterMs: 60_000 } });
  await controller.start();
  await waitFor(() => controller.status()[0]?.phase === 'Conflict' || controller.status()[0]?.phase === 'Failed', { what: 'the create to fail' });
  assert.ok(!runtime.calls.some((c) => c.startsWith('remove')), runtime.calls.join(', '));
  await controller.stop();
});

test('a probe that hangs blocks no reconcile worker; an Unhealthy task is killed and restarted by its policy', async () => {
  const clock = new FakeClock();
  const hanging: Promise<ProbeResult>[] = [];
  const answers = new Map<string, boolean>([['default/ok', true]]);
  class ProbedRuntime extends MemoryRuntime {
    kills: string[] = [];
    async probe(d: DesiredContainer): Promise<ProbeResult> {
      const healthy = answers.get(d.key);
      if (healthy === undefined) {
        const never = new Promise<ProbeResult>(() => undefined);
        hanging.push(never);
        return never;
      }
      return { healthy, output: healthy ? 'ok' : 'down' };
    }
    async kill(id: string) {
      this.kills.push(id);
      const task = this.containers.get(id)!.task!;
      task.status = 'stopped';
      task.exitStatus = 143;
      task.exitedAt = new Date(clock.now());
    }
  }
  const runtime = new ProbedRuntime();
  const check = { healthCheck: { exec: ['true'], periodSeconds: 1, failureThreshold: 2 } };
  const source = staticSource([desiredOf('stuck', { imagePullPolicy: 'Never', ...check }), desiredOf('ok', { imagePullPolicy: 'Never', ...check })]);
  const controller = createController({ runtime, sources: [source], log, clock, workers: 1, backoff: { initialMs: 1, maxMs: 1, resetAfterMs: 60_000 } });
  await controller.start();
  await waitFor(() => controller.ready() && controller.idle(), { what: 'first reconcile' });
  const step = async (ms: number) => {
    clock.advance(ms);
    await new Promise((r) => setImmediate(r));
  };
  for (let i = 0; i < 3; i++) await step(1_000);
  assert.ok(hanging.length >= 1, 'stuck is being probed (and never answers)');
  assert.equal(controller.status().find((r) => r.name === 'ok')?.health, 'Healthy');
  // With its probe hung, the one worker still reconciles: ok turns unhealthy, is killed and restarted.
  answers.set('default/ok', false);
  const pid = runtime.containers.get('default/ok')!.task!.pid;
  for (let i = 0; i < 4; i++) await step(1_000);
  await waitFor(() => controller.idle() && runtime.calls.includes('start default/ok') && runtime.containers.get('default/ok')!.task?.pid !== pid, {
    what: 'ok killed and restarted',
    detail: () => runtime.calls.join(', '),
  });
  assert.deepEqual(runtime.kills, ['default/ok']);
  assert.equal(runtime.containers.get('default/ok')!.restarts, 1, 'counted as a restart');
  assert.equal(controller.status().find((r) => r.name === 'ok')?.health, 'Starting', 'the new task starts again from Starting');
  await Promise.race([controller.stop(), new Promise((r) => setTimeout(r, 100))]); // a hung probe is not waited for forever in this fake
});
