// TaskOps.createTask against a scripted TasksService: what a Create of the same task that a
// killed converge left in flight looks like from here (AlreadyExists, containerd 1.6's
// "failed to start shim: mkdir ...: file exists"), and how it is waited out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { fromGrpc } from '../../src/containerd/errors.js';
import { TaskOps } from '../../src/containerd/taskops.js';
import type { NewTask, Process, TasksService } from '../../src/containerd/tasks.js';

const UNKNOWN = 2;
const shimError = (detail: string) => fromGrpc({ code: UNKNOWN, details: detail }, 'tasks.Create');
const BUNDLE_EXISTS = 'failed to start shim: mkdir /var/lib/containerd/state/io.containerd.runtime.v2.task/ns/default.web: file exists';

/** Answers each Create from `creates` in turn; Get from `gets`; records the calls. */
function scripted(creates: Array<Error | undefined>, gets: Array<Process | undefined>) {
  const calls: string[] = [];
  const tasks = {
    async create() {
      calls.push('create');
      const next = creates.shift();
      if (next) throw next;
      return { pid: 1 };
    },
    async get() {
      calls.push('get');
      const p = gets.shift();
      if (!p) throw fromGrpc({ code: 5, details: 'task not found' }, 'tasks.Get');
      return p;
    },
    async start() {
      calls.push('start');
      return { pid: 42 };
    },
    async delete() {
      calls.push('delete');
      throw fromGrpc({ code: 5, details: 'not found' }, 'tasks.Delete');
    },
  } as unknown as TasksService;
  return { ops: new TaskOps(tasks, pino({ level: 'silent' }), 10_000, 'ns'), calls };
}

const task = { containerId: 'default.web' } as NewTask;

test('containerd 1.6\'s "bundle exists" is AlreadyExists; other shim failures are not', () => {
  assert.equal(shimError(BUNDLE_EXISTS).code, 'AlreadyExists');
  assert.equal(shimError('failed to start shim: start failed: getwd: no such file or directory').code, 'Unknown');
});

test('a plain create makes one call', async () => {
  const { ops, calls } = scripted([undefined], []);
  assert.equal(await ops.createTask('default.web', task), undefined);
  assert.deepEqual(calls, ['create']);
});

test('a Create in flight that ends as a created task: that task is started', async () => {
  const { ops, calls } = scripted([shimError(BUNDLE_EXISTS)], [{ pid: 7, status: 'created' } as Process]);
  assert.deepEqual(await ops.createTask('default.web', task), { pid: 42 });
  assert.deepEqual(calls, ['create', 'get', 'start']);
});

test('one that containerd killed (stopped) is deleted, and ours created', async () => {
  const { ops, calls } = scripted([shimError(BUNDLE_EXISTS), undefined], [{ pid: 7, status: 'stopped', exitStatus: 137 } as Process]);
  assert.equal(await ops.createTask('default.web', task), undefined);
  assert.deepEqual(calls, ['create', 'get', 'delete', 'create']);
});

test('one not registered yet is waited for; its cleanup racing ours is tried again', async () => {
  const { ops, calls } = scripted(
    [shimError(BUNDLE_EXISTS), shimError('failed to start shim: open /x/shim-binary-path: no such file or directory'), undefined],
    [],
  );
  assert.equal(await ops.createTask('default.web', task), undefined);
  assert.deepEqual(calls, ['create', 'get', 'delete', 'create', 'get', 'delete', 'create']);
});

test('a shim failure without a clash first, and any other error, are not retried', async () => {
  const first = scripted([shimError('failed to start shim: start failed: exec: no such file')], []);
  await assert.rejects(first.ops.createTask('default.web', task), /failed to start shim/);
  assert.deepEqual(first.calls, ['create']);
  const other = scripted([fromGrpc({ code: 3, details: 'bad spec' }, 'tasks.Create')], []);
  await assert.rejects(other.ops.createTask('default.web', task), { code: 'InvalidArgument' });
});
