// Where a container's shim listens, whether it answers, and TaskOps waiting after its own
// delete until the old shim stops answering before it makes the container's next task.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { shimSocketPath, socketAnswers, untilSocketGone } from '../../src/containerd/shim-socket.js';
import { TaskOps } from '../../src/containerd/taskops.js';
import type { NewTask, TasksService } from '../../src/containerd/tasks.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'shim-sock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const listen = (file: string): Promise<Server> =>
  new Promise((resolve) => {
    const server = createServer((c) => c.destroy()).listen(file, () => resolve(server));
  });
const close = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

describe('shim sockets', () => {
  it('names the socket as containerd does: sha256 of "<address>/<namespace>/<id>" under /run/containerd/s', () => {
    // Seen in a containerd 2.4.2 log: address /tmp/cd-RRwbDF/c.sock, namespace rt-21278-1-4cmd.
    const expected = '/run/containerd/s/905498c9f4f1b2f8a4777b4e1fa19c2c4408d2133d705751c507068cc0bc4528';
    assert.equal(shimSocketPath('/tmp/cd-RRwbDF/c.sock', 'rt-21278-1-4cmd', 'default.survivor'), expected);
    assert.equal(shimSocketPath('unix:///tmp/cd-RRwbDF/c.sock', 'rt-21278-1-4cmd', 'default.survivor'), expected);
    assert.notEqual(shimSocketPath('/tmp/cd-RRwbDF/c.sock', 'other', 'default.survivor'), expected);
  });

  it('answers: a listening socket yes, a missing one no', async () => {
    const file = path.join(dir, 'a.sock');
    assert.equal(await socketAnswers(file, 1000), false);
    const server = await listen(file);
    assert.equal(await socketAnswers(file, 1000), true);
    await close(server);
    assert.equal(await socketAnswers(file, 1000), false);
  });

  it('waits until the socket stops answering, or gives up at its limit', async () => {
    const file = path.join(dir, 'b.sock');
    const server = await listen(file);
    let closed = false;
    setTimeout(() => void close(server).then(() => (closed = true)), 60);
    assert.equal(await untilSocketGone(file, 5_000), true);
    assert.ok(closed, 'it returned only once the socket was gone');
    const still = await listen(file);
    assert.equal(await untilSocketGone(file, 30), false);
    await close(still);
  });
});

describe('TaskOps after its own delete', () => {
  /** A TasksService whose Delete succeeds and whose Create records whether the shim socket still answered. */
  function ops(file: string) {
    const seen: boolean[] = [];
    const tasks = {
      async delete() {
        return { exitStatus: 0 };
      },
      async create() {
        seen.push(await socketAnswers(file, 1000));
        return { pid: 1 };
      },
    } as unknown as TasksService;
    return { taskOps: new TaskOps(tasks, pino({ level: 'silent' }), 10_000, 'ns', () => file), seen };
  }
  const task = { containerId: 'default.web' } as NewTask;

  it('makes the next task only once the deleted task\'s shim has stopped answering', async () => {
    const file = path.join(dir, 'c.sock');
    const { taskOps, seen } = ops(file);
    const server = await listen(file);
    await taskOps.deleteTaskQuiet('default.web');
    setTimeout(() => void close(server), 60);
    await taskOps.createTask('default.web', task);
    assert.deepEqual(seen, [false]);
  });

  it('a container whose task it did not delete is not waited for (its shim may be a live one)', async () => {
    const file = path.join(dir, 'd.sock');
    const { taskOps, seen } = ops(file);
    const server = await listen(file);
    try {
      await taskOps.createTask('default.web', task);
      assert.deepEqual(seen, [true]);
    } finally {
      await close(server);
    }
  });
});
